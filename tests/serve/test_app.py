from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.rewrite.chains import rule_row, table_of

from selflearn.rewrite.online import OnlineModel, OnlineRewriter, OnlineStore
from selflearn.rewrite.ranking import FEATURES, RewriteRanker
from selflearn.rewrite.retrieval import BiEncoder, CandidateIndex, PersonalIndexes
from selflearn.rewrite.store import RewriteStore
from selflearn.serve.app import ServeConfig, create_app
from selflearn.serve.auth import TokenStore

PERSONAL_TEXT = "turn on my reading lamp"


class AlwaysFire(RewriteRanker):
    def __init__(self) -> None:
        super().__init__()
        self.threshold_ = 0.0
        self.calibration_ = None

    def decide(self, x: np.ndarray) -> tuple[int, float, float]:
        if len(x) < 2:
            return 0, 0.0, 0.0
        return 1 + int(np.argmax(x[1:, 1])), 1.0, 0.9


def _index(layer: str, texts: list[str], enc: BiEncoder, users: list[list[str]]) -> CandidateIndex:
    n = len(texts)
    return CandidateIndex(
        layer=layer,
        texts=texts,
        embeddings=enc.encode(texts),
        interpretations=[None] * n,
        intents=[None] * n,
        nlu_confidence=np.full(n, 0.95),
        counts=np.full(n, 2.0),
        distinct_users=np.array([float(len(u)) for u in users]),
        last_seen=np.zeros(n),
        contexts=[{} for _ in range(n)],
        users=users,
    )


@pytest.fixture(scope="module")
def model() -> OnlineModel:
    enc = BiEncoder.load(None)
    personal = PersonalIndexes({"u1": _index("personal", [PERSONAL_TEXT], enc, [["u1"]])})
    glob = _index("global", ["turn off the kitchen lights"], enc, [["u3", "u4", "u5"]])
    return OnlineModel(
        encoder=enc, global_index=glob, personal=personal, ranker=AlwaysFire(), version="v0009"
    )


@pytest.fixture()
def client(tmp_path: Path, model: OnlineModel, small_nlu: Any) -> TestClient:
    small_nlu.save(tmp_path / "artifacts" / "models" / "nlu")
    table = table_of(rule_row("play jas", "play jazz", intent="play_music")).with_version("v0003")
    rw = OnlineRewriter(model=model, table=table, layers="global+personal", nlu=small_nlu, gate_nlu=1.01)
    return TestClient(create_app(ServeConfig(workspace=tmp_path), rewriter=rw))


def test_healthz_and_openapi(client: TestClient) -> None:
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["online_version"] == "v0009" and h["table_version"] == "v0003"
    assert h["ranker"] == "lightgbm"  # a rewriter handed in is served as it is, not compiled
    assert h["heap_freezes"] == 1  # the loaded model is kept out of the cyclic GC
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/rewrite", "/v1/interpret", "/v1/feedback", "/healthz"} <= set(paths)


def test_rewrite_layers_and_privacy(client: TestClient) -> None:
    pre = client.post("/v1/rewrite", json={"text": "play jas", "user": "u2"}).json()
    assert pre["rewrite"] == "play jazz" and pre["layer"] == "precomputed" and pre["score"] > 0
    mine = client.post(
        "/v1/rewrite", json={"text": "turn on my reading lump", "user": "u1", "asr_confidence": 0.5}
    ).json()
    assert mine["rewrite"] == PERSONAL_TEXT and mine["layer"] == "personal"
    assert mine["provenance"]["rule_id"].startswith("online:personal:v0009")
    theirs = client.post(
        "/v1/rewrite", json={"text": "turn on my reading lump", "user": "u2", "asr_confidence": 0.5}
    ).json()
    assert theirs["rewrite"] != PERSONAL_TEXT  # another user never gets u1's request
    assert theirs["latency_ms"] >= 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "play jazz"}, "user"),
        ({"text": "", "user": "u1"}, "text"),
        ({"text": "play jazz", "user": "u1", "asr_confidence": 1.5}, "asr_confidence"),
        ({"text": "play jazz", "user": "u1", "colour": "red"}, "colour"),
        ({"text": "play jazz", "user": "u1", "device": {"type": "toaster"}}, "type"),
    ],
)
def test_bad_requests_are_4xx_naming_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    r = client.post("/v1/rewrite", json=body)
    assert r.status_code == 422
    assert any(field in map(str, e["loc"]) for e in r.json()["detail"])


def test_interpret_and_feedback(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/v1/interpret", json={"text": "turn off the kitchen lights", "user": "u1"})
    assert r.status_code == 200
    out = r.json()
    assert out["intent"] and 0.0 <= out["confidence"] <= 1.0 and out["response"]
    fb = client.post("/v1/feedback", json={"turn_id": out["turn_id"], "user": "u1", "explicit": "negative"})
    assert fb.status_code == 202 and fb.json()["known_turn"] is True
    line = json.loads((tmp_path / "serve" / "feedback.jsonl").read_text().splitlines()[-1])
    assert line["turn_id"] == out["turn_id"] and line["explicit"] == "negative"
    other = client.post("/v1/feedback", json={"turn_id": out["turn_id"], "user": "u2", "barge_in": True})
    assert other.status_code == 403
    empty = client.post("/v1/feedback", json={"turn_id": out["turn_id"], "user": "u1"})
    assert empty.status_code == 422


def test_delete_user_scrubs_the_workspace(tmp_path: Path, model: OnlineModel) -> None:
    RewriteStore(tmp_path).publish(table_of(rule_row("play jas", "play jazz")))
    x = np.zeros((4, len(FEATURES)))
    x[[0, 2], 0] = 1.0
    ranker = RewriteRanker(n_estimators=5).fit(x, np.array([2, 0, 2, 0]), np.array([2, 2]))
    OnlineStore(tmp_path).publish(
        model.global_index.to_arrow(), model.personal.to_arrow(), ranker, None, {"min_users": 3}
    )
    admin = TokenStore(tmp_path / "serve" / "tokens.json").add("operator", "admin")
    app = create_app(ServeConfig(workspace=tmp_path, check_interval_s=0.0))
    c = TestClient(app)
    assert c.get("/healthz").json()["online_version"] == "v0001"
    assert c.delete("/v1/users/u1").status_code == 401  # destructive: never anonymous
    r = c.delete("/v1/users/u1", headers={"Authorization": f"Bearer {admin}"}).json()
    assert r["online_versions_scrubbed"] == 1
    assert OnlineStore(tmp_path).load("v0001").personal.get("u1") is None
