"""`selflearn serve`: the rewriter (and a whole assistant turn) behind an HTTP API.

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``):

* ``POST /v1/rewrite``: text, user, device, context -> the rewrite or none, with score, layer
  (precomputed, global, personal) and provenance. The precomputed table is consulted first.
* ``POST /v1/interpret``: a whole assistant turn on a text request (rewrite, NLU, response).
* ``POST /v1/feedback``: what the user did about a turn (explicit answer, barge-in), appended to
  ``<workspace>/serve/feedback.jsonl`` for the nightly learners.
* ``DELETE /v1/users/{user_id}``: forget a user in the rewrite table and the online indexes.
* ``GET /healthz``: versions loaded and the rewriter's counters.

Requests are validated by pydantic models (unknown fields, empty text, out-of-range confidences
are 422s naming the field). Handlers are `async def` running CPU work inline: one worker process
serves requests one at a time without thread hand-offs, which keeps the tail latency low on 2 cores.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from selflearn.rewrite.online import LAYER_CHOICES, OnlineRewriter

__all__ = ["ServeConfig", "create_app"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceIn(_In):
    id: str = Field(default="api", min_length=1, max_length=200)
    type: Literal["speaker", "screen", "tv", "phone"] = "speaker"


class ContextIn(_In):
    room: str | None = Field(default=None, max_length=200)
    local_time: datetime | None = None
    entity_ids: list[str] = Field(default_factory=list, max_length=2000)


class RewriteIn(_In):
    text: str = Field(min_length=1, max_length=500, description="the ASR 1-best")
    user: str = Field(min_length=1, max_length=200)
    asr_confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    device: DeviceIn = Field(default_factory=DeviceIn)
    context: ContextIn = Field(default_factory=ContextIn)


class RewriteOut(BaseModel):
    original: str
    rewrite: str | None
    score: float
    layer: str | None
    provenance: dict[str, Any]
    gated: bool
    latency_ms: float


class InterpretOut(BaseModel):
    turn_id: str
    text: str
    rewrite: dict[str, Any] | None
    intent: str | None
    confidence: float
    slots: dict[str, str]
    response: str
    latency_ms: float


class FeedbackIn(_In):
    turn_id: str = Field(min_length=1, max_length=200)
    user: str = Field(min_length=1, max_length=200)
    explicit: Literal["positive", "negative"] | None = None
    barge_in: bool = False
    barge_in_offset_ms: int | None = Field(default=None, ge=0)


@dataclass
class ServeConfig:
    workspace: Path
    layers: str = "global+personal"
    gate_nlu: float = 0.9
    gate_asr: float = 0.85
    check_interval_s: float = 5.0
    nlu_dir: Path | None = None  # default: <workspace>/artifacts/models/nlu when it exists


def _turn(req: RewriteIn, turn_id: str) -> Any:
    from selflearn.logs.records import AsrHypothesis, AsrStage, Context, DeviceInfo, DeviceState, Turn

    now = datetime.now(UTC)
    states = [DeviceState(entity_id=e, kind=e.split(".")[0]) for e in req.context.entity_ids if e]
    return Turn(
        turn_id=turn_id,
        session_id=turn_id,
        user_id=req.user,
        timestamp=now,
        device=DeviceInfo(device_id=req.device.id, type=req.device.type),  # type: ignore[arg-type]
        context=Context(room=req.context.room, local_time=req.context.local_time, device_states=states),
        asr=AsrStage(engine="api", nbest=[AsrHypothesis(text=req.text, confidence=req.asr_confidence)]),
    )


def create_app(cfg: ServeConfig, rewriter: OnlineRewriter | None = None) -> Any:
    """The FastAPI app for a workspace (its published rewrite table and online model)."""
    from fastapi import FastAPI, HTTPException

    from selflearn.assistant.component import Pipeline, TurnState, Utterance, create

    if cfg.layers not in LAYER_CHOICES:
        raise ValueError(f"unknown layers {cfg.layers!r}; choose one of {', '.join(LAYER_CHOICES)}")
    nlu = None
    nlu_dir = cfg.nlu_dir or cfg.workspace / "artifacts" / "models" / "nlu"
    if (nlu_dir / "manifest.json").exists():
        from selflearn.assistant.nlu.model import NluModel

        nlu = NluModel.load(nlu_dir)
    if rewriter is None:
        rewriter = OnlineRewriter(
            root=cfg.workspace,
            layers=cfg.layers,
            nlu=nlu,
            gate_nlu=cfg.gate_nlu,
            gate_asr=cfg.gate_asr,
            check_interval_s=cfg.check_interval_s,
        )
    rw = rewriter
    if rw.model is not None:
        rw.model.encoder.encode_one("warm up")  # the first encode builds torch's kernels
    back: Pipeline | None = None
    if nlu is not None:
        import selflearn.assistant.nlu.component
        import selflearn.assistant.respond  # noqa: F401

        back = Pipeline([rw, create("nlu.model.v1", model=nlu), create("response.template.v1")])
    lock = threading.Lock()  # components keep counters and caches: one request at a time
    feedback_path = cfg.workspace / "serve" / "feedback.jsonl"
    recent: OrderedDict[str, str] = OrderedDict()  # turn id -> user, for feedback validation

    app = FastAPI(
        title="selflearn",
        version="1",
        description="Self-learning rewrites for a smart-home voice assistant.",
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "layers": cfg.layers,
            "table_version": rw.precomputed.version,
            "online_version": rw.model.version if rw.model is not None else None,
            "nlu": nlu is not None,
            "stats": dict(rw.stats),
        }

    @app.post("/v1/rewrite", response_model=RewriteOut)
    async def rewrite(req: RewriteIn) -> RewriteOut:
        t0 = time.perf_counter()
        ctx = req.context
        now = datetime.now(UTC)
        local = ctx.local_time or now
        with lock:
            d = rw.rewrite(
                req.text,
                req.user,
                asr_confidence=req.asr_confidence,
                device_type=req.device.type,
                room=ctx.room,
                hour=local.hour,
                timestamp=now.timestamp(),
                entity_ids=frozenset(ctx.entity_ids),
            )
        fired = d.rewritten is not None
        prov = {**d.provenance, "candidates": d.candidates} if fired else {}
        return RewriteOut(
            original=req.text,
            rewrite=d.rewritten,
            score=d.score if fired else 0.0,
            layer=d.layer if fired else None,
            provenance=prov,
            gated=d.gated,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )

    @app.post("/v1/interpret", response_model=InterpretOut)
    async def interpret(req: RewriteIn) -> InterpretOut:
        if back is None:
            raise HTTPException(status_code=503, detail=f"no NLU model under {nlu_dir}")
        t0 = time.perf_counter()
        turn_id = "it-" + uuid.uuid4().hex[:16]
        with lock:
            state = back(TurnState(turn=_turn(req, turn_id), utterance=Utterance(text=req.text)))
            recent[turn_id] = req.user
            if len(recent) > 10000:
                recent.popitem(last=False)
        t = state.turn
        top = t.nlu.top
        return InterpretOut(
            turn_id=turn_id,
            text=t.text,
            rewrite=t.rewrite.model_dump(mode="json") if t.rewrite else None,
            intent=top.intent if top else None,
            confidence=top.confidence if top else 0.0,
            slots={s.name: s.value for s in top.slots} if top else {},
            response=t.response.text,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )

    @app.post("/v1/feedback", status_code=202)
    async def feedback(req: FeedbackIn) -> dict[str, Any]:
        owner = recent.get(req.turn_id)
        if owner is not None and owner != req.user:
            raise HTTPException(status_code=403, detail=f"turn {req.turn_id} belongs to another user")
        if req.explicit is None and not req.barge_in:
            raise HTTPException(status_code=422, detail="feedback needs 'explicit' or 'barge_in'")
        feedback_path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            **req.model_dump(mode="json"),
            "at": datetime.now(UTC).isoformat(),
            "known_turn": owner is not None,
        }
        with lock, open(feedback_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return {"stored": True, "known_turn": owner is not None}

    @app.delete("/v1/users/{user_id}")
    async def delete_user(user_id: str) -> dict[str, Any]:
        from selflearn.rewrite.online import OnlineStore
        from selflearn.rewrite.store import RewriteStore

        with lock:
            table_version = RewriteStore(cfg.workspace).delete_user(user_id)
            online_versions = OnlineStore(cfg.workspace).delete_user(user_id)
            rw.reload()
        return {"user": user_id, "table_version": table_version, "online_versions_scrubbed": online_versions}

    return app
