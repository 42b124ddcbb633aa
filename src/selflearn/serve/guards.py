"""What the service refuses before a handler runs: oversized bodies, and input it cannot store.

* A body over the limit is refused with 413 before it is parsed (a 50 MB JSON body would
  otherwise be parsed, held in memory and echoed back in a validation error). Declared lengths are
  checked first; a body sent without one (chunked) is counted as it streams in.
* Validation errors (422) name the field and the rule, and never echo the input back: an
  attacker's payload does not come back at length, and a person's request text does not land in a
  client's error log.
* Strings must be valid Unicode (a lone surrogate cannot be written to the log: it used to fail
  there, as a 500) and numbers finite (NaN and Infinity, which Python's JSON parser accepts, are
  422s).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit", "check_text", "validation_error_response"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def check_text(value: str) -> str:
    """`value` if it is valid Unicode text (encodable as UTF-8), else a ValueError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode text (position {exc.start})") from None
    return value


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                await _reply(send, 400, "bad Content-Length header")
                return
            if too_large:
                await _reply(send, 413, f"request body over {self.max_bytes} bytes")
                return
        # Read the body here (it is small by now) so a stream without a declared length is bounded.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _reply(send, 413, f"request body over {self.max_bytes} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def validation_error_response(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A 422 body naming each bad field and its rule, without the input."""
    out = []
    for e in errors[:20]:
        msg = str(e.get("msg", ""))
        out.append(
            {
                "loc": [str(p)[:100] for p in e.get("loc", ())][:10],
                "msg": msg if len(msg) <= 200 else msg[:200] + "...",
                "type": str(e.get("type", "")),
            }
        )
    return {"detail": out}
