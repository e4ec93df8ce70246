"""Structured logs: JSON lines when not on a terminal, readable colums on one.

Every `logging` call of ours and of our libraries goes through structlog's formatter, with the
context bound in contextvars merged in: `request_id` for an HTTP request, `job_id`, `task`
and `attempt` for a job run.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any, Literal

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LogFormat = Literal["auto", "json", "console"]
REQUEST_ID_HEADER = "x-request-id"
EXTRA_FIELDS = ("alert",)  # `extra` keys rendered as fields of the line (catalog.notifications)
# A caller's request id is kept when it is short and plain; anything else gets a fresh one.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def wants_json(fmt: LogFormat, *, stream: Any = None) -> bool:
    if fmt != "auto":
        return fmt == "json"
    stream = stream if stream is not None else sys.stderr
    return not (hasattr(stream, "isatty") and stream.isatty())


def configure(level: str, fmt: LogFormat = "auto") -> None:
    """Route all logging through structlog, rendering JSON or console lines on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if wants_json(fmt)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # A `logging` call's structured fields travel in `extra`: only these keys are ours
        # (libraries put other things there, such as uvicorn's `color_message`).
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder(allow=EXTRA_FIELDS)],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID_HEADER.encode():
            given = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(given):
                return given
    return uuid.uuid4().hex


class RequestContext:
    """Binds a request id to every log line of the request and returns it as X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers", []))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
