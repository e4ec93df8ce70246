"""Rendering pages: templates, the visitor's session cookie, security headers, denials."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cron_descriptor import ExpressionDescriptor, Options
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from catalog.api.access import AccessDenied
from catalog.bootstrap import Runtime
from catalog.dashboard import session
from catalog.dashboard.session import Visitor

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def cron_in_words(cron: str, tz: str) -> str:
    """'0 8 * * 1' in 'UTC' -> 'At 08:00, only on Monday (UTC)'."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        words = ExpressionDescriptor(cron, options).get_description()
    except Exception:  # a description is a courtesy; the cron itself is shown beside it
        return cron
    return f"{words} ({tz})"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


templates.env.filters["when"] = when
templates.env.filters["ago"] = ago
templates.env.globals["cron_in_words"] = cron_in_words


def secured(response: Response) -> Response:
    for name, value in session.SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


async def page(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """The template rendered for `visitor`, with its session cookie issued if new."""
    response = templates.TemplateResponse(
        request,
        template,
        {"visitor": visitor, "csrf": visitor.session.csrf, **context},
        status_code=status_code,
    )
    if visitor.fresh:
        await session.set_cookie(request, runtime, response, visitor.session)
    return secured(response)


def denied(request: Request, error: AccessDenied) -> Response:
    """401 on a page: go and log in; anything else: say why."""
    if error.status_code == 401 and request.method == "GET":
        return secured(RedirectResponse("/dashboard/login", status_code=303))
    response = templates.TemplateResponse(
        request,
        "error.html",
        {"visitor": None, "message": error.detail, "status": error.status_code},
        status_code=error.status_code,
    )
    return secured(response)


def html_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        "error.html",
        {"visitor": None, "message": message, "status": status_code},
        status_code=status_code,
    )
    secured(response)
    return response
