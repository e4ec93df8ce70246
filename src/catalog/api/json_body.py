"""Refuse a JSON body in which an object names the same key twice.

`{"delta": 5, "delta": -5}` parses (the last one wins), but which one the client meant is a
guess: the API answers 422 and says which key, before any route reads the body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def duplicate_key(body: bytes) -> str | None:
    """The first key some object in `body` repeats; None if none does or it is not JSON."""
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except _Duplicate as duplicate:
        return duplicate.key
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own parsing answers that
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class RefuseDuplicateKeys:
    """ASGI middleware: a JSON request body with a repeated key gets 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        key = duplicate_key(body)
        if key is not None:
            shown = key[:40].encode("unicode_escape").decode("ascii")
            response = JSONResponse(
                {"detail": f"body: the key {shown!r} appears twice in one object"},
                status_code=422,
            )
            await response(scope, receive, send)
            return
        whole: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
