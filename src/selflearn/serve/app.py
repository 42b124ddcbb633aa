"""`selflearn serve`: the rewriter (and a whole assistant turn) behind an HTTP API.

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``):

* ``POST /v1/rewrite``: text, user, device, context -> the rewrite or none, with score, layer
  (precomputed, global, personal) and provenance. The precomputed table is consulted first.
* ``POST /v1/interpret``: a whole assistant turn on a text request (rewrite, NLU, response). The
  turn is logged to ``<workspace>/logs/day=NNNN/`` (buffered, see `serve.turnlog`), so the nightly
  job (`selflearn mine`, `selflearn online train`) learns from served traffic. It is answered only
  once the turn is in the write-ahead journal on disk (`util.journal`): no acknowledged turn is
  lost to a crash.
* ``POST /v1/feedback``: what the user did about a turn (explicit answer, barge-in). Attached to
  the logged turn while it is still buffered; always appended to ``<workspace>/serve/feedback.jsonl``
  as an audit trail (``attached`` says whether the turn carries it). Feedback on an already-flushed
  turn is read from there by the nightly online training (`rewrite.online_train.late_feedback`).
* ``DELETE /v1/users/{user_id}`` (admin): forget a person everywhere (`privacy.forget`: a
  tombstone, then the logs, late feedback, the journal and unflushed buffer, quarantine,
  preferences, context history and every kept rewrite and online version); says what it removed.
* ``GET /healthz``: versions loaded and the rewriter's counters.

Requests are validated by pydantic models (unknown fields, empty text, out-of-range confidences
are 422s naming the field). Handlers are `async def` running CPU work inline: one worker process
serves requests one at a time without thread hand-offs, which keeps the tail latency low on 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import Request  # at module level: FastAPI resolves the dependency's annotation here
from pydantic import BaseModel, ConfigDict, Field, model_validator

from selflearn.rewrite.online import LAYER_CHOICES, OnlineRewriter, OnlineStore
from selflearn.serve.auth import Principal, TokenStore
from selflearn.serve.guards import BodyLimit, check_text, validation_error_response
from selflearn.serve.heap import FrozenHeap
from selflearn.serve.ratelimit import RateLimiter
from selflearn.serve.turnlog import TurnLog
from selflearn.util.workspace import Workspace

__all__ = ["ServeConfig", "create_app"]


class _In(BaseModel):
    # NaN and Infinity (which JSON parsing lets through) are refused like any bad number.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _unicode(self) -> _In:
        """Every string must be storable: a lone surrogate is a 422 naming the field, not a 500."""
        for name, value in self:
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str):
                    try:
                        check_text(v)
                    except ValueError as exc:
                        raise ValueError(f"{name}: {exc}") from None
        return self


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
    gate_nlu: float | None = None  # None: the gate the online model was trained with
    gate_asr: float | None = None
    check_interval_s: float = 5.0
    nlu_dir: Path | None = None  # default: the workspace's live `nlu` artifact, when it has one
    log_turns: bool = True  # write /v1/interpret turns to <workspace>/logs
    log_day: int | None = None  # day partition for served turns (default: the next new day)
    log_flush_turns: int = 500  # flush the turn buffer at this many turns...
    log_flush_s: float = 60.0  # ...or when its oldest turn is this old (and on shutdown)
    # Answer /v1/interpret only once the turn is in the fsynced write-ahead journal (util.journal);
    # off: a crash loses the buffered turns (up to `log_flush_turns` of them).
    log_journal: bool = True
    session_gap_s: float = 60.0  # a user's turns on one device closer than this share a session
    compiled: bool = True  # serve through compiled hot paths (rewrite.online.compile_for_serving)
    freeze_heap: bool = True  # keep the loaded model out of the cyclic GC (serve/heap.py)
    # Bearer tokens (serve/auth.py); None: <workspace>/serve/tokens.json and SELFLEARN_TOKENS.
    tokens: TokenStore | None = None
    max_body_bytes: int = 64 * 1024  # larger request bodies are refused (413) unread
    # Requests per second per authenticated principal (bursts of twice that); 0: no limit.
    rate_limit: float = 20.0


def _turn(req: RewriteIn, turn_id: str, session_id: str | None = None, turn_index: int = 0) -> Any:
    from selflearn.logs.records import AsrHypothesis, AsrStage, Context, DeviceInfo, DeviceState, Turn

    now = datetime.now(UTC)
    states = [DeviceState(entity_id=e, kind=e.split(".")[0]) for e in req.context.entity_ids if e]
    return Turn(
        turn_id=turn_id,
        session_id=session_id or turn_id,
        user_id=req.user,
        turn_index=turn_index,
        timestamp=now,
        device=DeviceInfo(device_id=req.device.id, type=req.device.type),  # type: ignore[arg-type]
        context=Context(room=req.context.room, local_time=req.context.local_time, device_states=states),
        asr=AsrStage(engine="api", nbest=[AsrHypothesis(text=req.text, confidence=req.asr_confidence)]),
    )


def create_app(cfg: ServeConfig, rewriter: OnlineRewriter | None = None) -> Any:
    """The FastAPI app for a workspace (its published rewrite table and online model)."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from selflearn.assistant.component import Pipeline, TurnState, Utterance, create

    if cfg.layers not in LAYER_CHOICES:
        raise ValueError(f"unknown layers {cfg.layers!r}; choose one of {', '.join(LAYER_CHOICES)}")
    nlu = None
    nlu_dir = cfg.nlu_dir or Workspace(cfg.workspace).model_dir("nlu")
    if nlu_dir is not None and (nlu_dir / "manifest.json").exists():
        from selflearn.assistant.nlu.load import load_nlu

        nlu = load_nlu(nlu_dir)
    if rewriter is None:
        # what an interrupted publish or prune of the online model left behind goes first
        OnlineStore(cfg.workspace).clean()
        rewriter = OnlineRewriter(
            root=cfg.workspace,
            layers=cfg.layers,
            nlu=nlu,
            gate_nlu=cfg.gate_nlu,
            gate_asr=cfg.gate_asr,
            check_interval_s=cfg.check_interval_s,
            compiled=cfg.compiled,
        )
    rw = rewriter
    if rw.model is not None:
        rw.model.encoder.encode_one("warm up")  # the first encode builds torch's kernels
    heap = FrozenHeap(cfg.freeze_heap)
    # Requests never seen before are embedded here, on the second core, before the request takes
    # the lock: the ~8 ms forward pass then no longer holds up the cheap requests queued behind.
    encode_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")

    async def prefetch(req: RewriteIn) -> None:
        text = rw.to_encode(req.text, req.user, req.asr_confidence)
        model = rw.model
        if text is not None and model is not None:
            await asyncio.get_running_loop().run_in_executor(encode_pool, model.encoder.prefetch, text)

    def loaded() -> tuple[int, str | None, str | None]:
        # what is loaded: a new table or model is frozen after its first request
        return (id(rw.model), rw.model.version if rw.model is not None else None, rw.precomputed.version)

    heap.after_load(loaded())
    back: Pipeline | None = None
    if nlu is not None:
        import selflearn.assistant.nlu.component
        import selflearn.assistant.respond  # noqa: F401

        back = Pipeline([rw, create("nlu.model.v1", model=nlu), create("response.template.v1")])
    lock = threading.Lock()  # components keep counters and caches: one request at a time
    feedback_path = Workspace(cfg.workspace).feedback_file
    # turn id -> (user, principal), for feedback validation
    recent: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
    turn_log = (
        TurnLog(cfg.workspace, cfg.log_day, cfg.log_flush_turns, cfg.log_flush_s, journal=cfg.log_journal)
        if cfg.log_turns
        else None
    )
    # (user, device) -> (session id, last turn time, next turn index): rephrase mining pairs turns
    # within a session, so consecutive requests of one user on one device must share one.
    sessions: OrderedDict[tuple[str, str], tuple[str, float, int]] = OrderedDict()

    def session_for(user: str, device: str, turn_id: str) -> tuple[str, int]:
        now = time.monotonic()
        prev = sessions.pop((user, device), None)
        if prev is not None and now - prev[1] < cfg.session_gap_s:
            sid, index = prev[0], prev[2]
        else:
            sid, index = "s-" + turn_id[3:], 0
        sessions[(user, device)] = (sid, now, index + 1)
        if len(sessions) > 10000:
            sessions.popitem(last=False)
        return sid, index

    def flush_log() -> None:
        if turn_log is not None:
            turn_log.flush()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async def ticker() -> None:  # the age threshold also holds when no request comes
            assert turn_log is not None
            while True:
                await asyncio.sleep(max(0.05, min(1.0, turn_log.flush_s / 2)))
                if turn_log.due():
                    flush_log()

        task = asyncio.create_task(ticker()) if turn_log is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if turn_log is not None:
                turn_log.close()  # shutdown: the buffer is written and the journal emptied
            encode_pool.shutdown(wait=False)

    app = FastAPI(
        title="selflearn",
        version="1",
        description="Self-learning rewrites for a smart-home voice assistant.",
        lifespan=lifespan,
    )
    app.state.turn_log = turn_log
    tokens = cfg.tokens if cfg.tokens is not None else TokenStore.for_workspace(cfg.workspace)
    app.state.tokens = tokens
    limiter = RateLimiter(cfg.rate_limit)
    app.state.limiter = limiter

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Any, exc: RequestValidationError) -> Any:
        return JSONResponse(status_code=422, content=validation_error_response(list(exc.errors())))

    def require(scope: str) -> Any:
        """A dependency: the caller's principal, holding `scope` (401 without a valid token, 403
        with too weak a one). Without any token configured, read and write are open and admin is
        refused (a destructive call always needs a credential)."""

        async def check(request: Request) -> Principal | None:
            if not tokens.configured and scope != "admin":
                return None
            header = request.headers.get("authorization", "")
            kind, _, token = header.partition(" ")
            principal = tokens.authenticate(token.strip()) if kind.lower() == "bearer" else None
            if principal is None:
                detail = "a bearer token is required" if tokens.configured else "no admin token is configured"
                raise HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})
            if not principal.allows(scope):
                raise HTTPException(status_code=403, detail=f"this token lacks the {scope!r} scope")
            wait = limiter.allow(principal.name)
            if wait > 0:
                raise HTTPException(
                    status_code=429,
                    detail=f"over {cfg.rate_limit:g} requests/s for this token",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
            return principal

        return Depends(check)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "layers": cfg.layers,
            "table_version": rw.precomputed.version,
            "online_version": rw.model.version if rw.model is not None else None,
            "nlu": nlu is not None,
            "ranker": None
            if rw.model is None
            else ("compiled" if rw.model.ranker.is_compiled else "lightgbm"),
            "encoder": None if rw.model is None else rw.model.encoder.precision_,
            "stats": dict(rw.stats),
            "heap_freezes": heap.freezes,
        }

    @app.post("/v1/rewrite", response_model=RewriteOut)
    async def rewrite(req: RewriteIn, _who: Principal | None = require("read")) -> RewriteOut:
        t0 = time.perf_counter()
        ctx = req.context
        now = datetime.now(UTC)
        local = ctx.local_time or now
        await prefetch(req)
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
            heap.after_load(loaded())
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
    async def interpret(req: RewriteIn, who: Principal | None = require("write")) -> InterpretOut:
        if back is None:
            where = nlu_dir or Workspace(cfg.workspace).store("nlu").dir
            raise HTTPException(status_code=503, detail=f"no NLU model under {where}")
        t0 = time.perf_counter()
        turn_id = "it-" + uuid.uuid4().hex[:16]
        await prefetch(req)
        with lock:
            sid, index = session_for(req.user, req.device.id, turn_id)
            turn = _turn(req, turn_id, sid, index)
            if who is not None:  # the credential's household: k counts these, not free-form users
                turn = turn.model_copy(update={"household_id": who.name})
            state = back(TurnState(turn=turn, utterance=Utterance(text=req.text)))
            recent[turn_id] = (req.user, who.name if who is not None else None)
            if len(recent) > 10000:
                recent.popitem(last=False)
            heap.after_load(loaded())
        t = state.turn
        if turn_log is not None:
            t = t.model_copy(update={"latency_ms": (time.perf_counter() - t0) * 1000})
            ticket = turn_log.add(t)
            if turn_log.due():
                flush_log()
            await turn_log.durable(ticket)  # acknowledged only once the journal holds it
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
    async def feedback(req: FeedbackIn, who: Principal | None = require("write")) -> dict[str, Any]:
        owner = recent.get(req.turn_id)
        caller = who.name if who is not None else None
        if owner is not None and (owner[0] != req.user or owner[1] != caller):
            raise HTTPException(status_code=403, detail=f"turn {req.turn_id} belongs to another user")
        if req.explicit is None and not req.barge_in:
            raise HTTPException(status_code=422, detail="feedback needs 'explicit' or 'barge_in'")
        attached = (
            owner is not None
            and turn_log is not None
            and turn_log.attach(
                req.turn_id,
                explicit=req.explicit,
                barge_in=req.barge_in,
                barge_in_offset_ms=req.barge_in_offset_ms,
            )
        )
        feedback_path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            **req.model_dump(mode="json"),
            "at": datetime.now(UTC).isoformat(),
            "known_turn": owner is not None,
            "attached": attached,
            "principal": caller,
        }
        with lock, open(feedback_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return {"stored": True, "known_turn": owner is not None, "attached": attached}

    @app.delete("/v1/users/{user_id}")
    async def delete_user(user_id: str, _who: Principal | None = require("admin")) -> dict[str, Any]:
        from selflearn.privacy.forget import forget_user

        with lock:
            report = forget_user(cfg.workspace, user_id, buffer=turn_log)
            recent_theirs = [tid for tid, owner in recent.items() if owner[0] == user_id]
            for tid in recent_theirs:
                del recent[tid]
            for key in [k for k in sessions if k[0] == user_id]:
                del sessions[key]
            rw.reload()
        return {
            "user": user_id,
            "removed": report.removed,
            "files_rewritten": len(report.files_rewritten),
            "table_version": report.rewrite_table_version,
            "online_versions_scrubbed": report.online_versions_scrubbed,
        }

    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    return app
