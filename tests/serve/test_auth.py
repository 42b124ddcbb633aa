"""Tokens and scopes, body limits and input the service cannot store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.rewrite.chains import rule_row, table_of

from selflearn.rewrite.online import OnlineRewriter
from selflearn.serve.app import ServeConfig, create_app
from selflearn.serve.auth import ENV_VAR, Principal, TokenStore, hash_token
from selflearn.serve.ratelimit import RateLimiter


def _client(ws: Path, nlu: Any, tokens: TokenStore | None = None, **cfg: Any) -> TestClient:
    nlu.save(ws / "artifacts" / "models" / "nlu")
    rw = OnlineRewriter(
        table=table_of(rule_row("play jas", "play jazz")).with_version("v0001"), layers="off", nlu=nlu
    )
    return TestClient(create_app(ServeConfig(workspace=ws, tokens=tokens, **cfg), rewriter=rw))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SAY = {"text": "play jas", "user": "u1"}


def test_the_token_file_holds_hashes_only_and_scopes_imply_weaker_ones(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    token = store.add("kitchen-satellite", "write")
    text = (tmp_path / "tokens.json").read_text()
    assert token not in text and hash_token(token) in text
    assert (tmp_path / "tokens.json").stat().st_mode & 0o077 == 0
    again = TokenStore(tmp_path / "tokens.json")
    who = again.authenticate(token)
    assert who == Principal("kitchen-satellite", "write")
    assert who.allows("read") and who.allows("write") and not who.allows("admin")
    assert again.authenticate(token + "x") is None and again.authenticate(None) is None
    assert again.revoke("kitchen-satellite") == 1
    assert TokenStore(tmp_path / "tokens.json").authenticate(token) is None


def test_tokens_from_the_environment_and_bad_entries(tmp_path: Path) -> None:
    store = TokenStore(None, "abc123:ops:admin; def456:hall:read")
    assert store.authenticate("abc123") == Principal("ops", "admin")
    assert store.authenticate("def456") == Principal("hall", "read")
    with pytest.raises(ValueError, match=f"{ENV_VAR}: entry 1"):
        TokenStore(None, "justatoken")
    with pytest.raises(ValueError, match="unknown scope"):
        TokenStore(None, "t:p:root")
    bad = tmp_path / "tokens.json"
    bad.write_text(
        json.dumps({"tokens": [{"hash": "md5:x", "principal": "p", "scope": "read", "created": ""}]})
    )
    with pytest.raises(ValueError, match="token 0"):
        TokenStore(bad)


def test_scopes_guard_each_endpoint(tmp_path: Path, small_nlu: Any) -> None:
    store = TokenStore(None, "r0:reader:read;w0:satellite:write;a0:ops:admin")
    c = _client(tmp_path, small_nlu, store, log_journal=False)
    assert c.get("/healthz").status_code == 200  # liveness stays open
    assert c.post("/v1/rewrite", json=SAY).status_code == 401
    r = c.post("/v1/rewrite", json=SAY, headers=_bearer("nope"))
    assert r.status_code == 401 and "nope" not in r.text
    assert c.post("/v1/rewrite", json=SAY, headers=_bearer("r0")).status_code == 200
    assert c.post("/v1/interpret", json=SAY, headers=_bearer("r0")).status_code == 403
    turn = c.post("/v1/interpret", json=SAY, headers=_bearer("w0"))
    assert turn.status_code == 200
    fb = {"turn_id": turn.json()["turn_id"], "user": "u1", "barge_in": True}
    assert c.post("/v1/feedback", json=fb, headers=_bearer("w0")).status_code == 202
    assert c.delete("/v1/users/u1", headers=_bearer("w0")).status_code == 403
    assert c.delete("/v1/users/u1", headers=_bearer("a0")).status_code == 200


def test_without_tokens_only_admin_is_closed(tmp_path: Path, small_nlu: Any) -> None:
    c = _client(tmp_path, small_nlu, TokenStore(None, None), log_journal=False)
    assert c.post("/v1/interpret", json=SAY).status_code == 200
    r = c.delete("/v1/users/u1")
    assert r.status_code == 401 and "no admin token" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"text": "play jas", "user": "u1", "asr_confidence": NaN}', "asr_confidence"),
        ('{"text": "play jas", "user": "u1", "asr_confidence": Infinity}', "asr_confidence"),
        ('{"text": "play \\ud800 jas", "user": "u1"}', "text"),
        ('{"text": "play jas", "user": "u\\udfff"}', "user"),
        ('{"text": "play jas", "user": "u1", "context": {"entity_ids": ["light.\\ud83d"]}}', "entity_ids"),
    ],
)
def test_unstorable_input_is_a_422_naming_the_field(
    tmp_path: Path, small_nlu: Any, body: str, field: str
) -> None:
    c = _client(tmp_path, small_nlu, TokenStore(None, None), log_journal=False)
    for path in ("/v1/rewrite", "/v1/interpret"):
        r = c.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert field in r.text and "input" not in r.json()["detail"][0]


def test_oversized_bodies_are_refused_unread_and_nothing_is_echoed(tmp_path: Path, small_nlu: Any) -> None:
    c = _client(tmp_path, small_nlu, TokenStore(None, None), max_body_bytes=4096, log_journal=False)
    big = {"text": "x" * 10_000, "user": "u1"}
    assert c.post("/v1/interpret", json=big).status_code == 413

    def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(10):
            yield b" " * 1000
        yield json.dumps(SAY).encode()

    assert (
        c.post("/v1/rewrite", content=chunks(), headers={"content-type": "application/json"}).status_code
        == 413
    )
    long_text = {"text": "y" * 3000, "user": "u1"}  # under the body limit, over the field's
    r = c.post("/v1/rewrite", json=long_text)
    assert r.status_code == 422 and "y" * 100 not in r.text


def test_rate_limiter_refills_at_its_rate() -> None:
    lim = RateLimiter(rate=2.0, burst=2)
    assert lim.allow("a", now=0.0) == 0.0 and lim.allow("a", now=0.0) == 0.0
    assert lim.allow("a", now=0.0) == pytest.approx(0.5)  # empty: half a second to the next token
    assert lim.allow("b", now=0.0) == 0.0  # buckets are per principal
    assert lim.allow("a", now=0.6) == 0.0 and lim.refused == 1
    assert RateLimiter(rate=0).allow("a") == 0.0


def test_a_token_over_its_budget_gets_429_and_turns_carry_its_principal(
    tmp_path: Path, small_nlu: Any
) -> None:
    store = TokenStore(None, "w0:house-7:write;w1:house-8:write")
    c = _client(tmp_path, small_nlu, store, rate_limit=1.0, log_journal=False)
    first = c.post("/v1/interpret", json=SAY, headers=_bearer("w0"))
    assert first.status_code == 200
    c.post("/v1/interpret", json=SAY, headers=_bearer("w0"))  # the burst of 2
    over = c.post("/v1/interpret", json=SAY, headers=_bearer("w0"))
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    turn_log = c.app.state.turn_log  # type: ignore[attr-defined]
    assert {t.household_id for t in turn_log._buf.values()} == {"house-7"}
    # feedback on a turn must come through the credential that made it
    fb = {"turn_id": first.json()["turn_id"], "user": "u1", "barge_in": True}
    assert c.post("/v1/feedback", json=fb, headers=_bearer("w1")).status_code == 403
