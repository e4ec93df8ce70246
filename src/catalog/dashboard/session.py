"""Dashboard sessions: a signed cookie made from an API key, CSRF tokens, login rate limits.

The cookie holds the key's id (never its secret) and a CSRF token, signed with a secret every
process shares (made by migration 0014). The key is looked up on every request, so revoking
it ends its sessions at once. While no key exists, this machine gets an anonymous session
that only carries the CSRF token: forms on localhost need one too, or any web page could post
to them.
"""

from __future__ import annotations

import collections
import dataclasses
import hmac
import secrets
import time
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from catalog.api import access
from catalog.api.access import AccessDenied, Principal, Role
from catalog.bootstrap import Runtime
from catalog.store import access_keys

COOKIE = "catalog_session"
COOKIE_PATH = "/dashboard"
CSRF_FIELD = "csrf"
LOGIN_WINDOW_S = 60.0

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclasses.dataclass(frozen=True)
class Session:
    key_id: int | None
    csrf: str


@dataclasses.dataclass(frozen=True)
class Visitor:
    """Who looks at a page, and the session their forms carry."""

    principal: Principal
    session: Session
    fresh: bool  # the session cookie must be (re)issued with the response

    def may(self, role: Role) -> bool:
        return self.principal.role.allows(role)


async def _serializer(request: Request, runtime: Runtime) -> URLSafeTimedSerializer:
    cached: URLSafeTimedSerializer | None = getattr(request.app.state, "session_signer", None)
    if cached is None:
        async with runtime.work.pool.connection() as conn:
            secret = await access_keys.session_secret(conn)
        cached = URLSafeTimedSerializer(secret, salt="catalog-dashboard-session")
        request.app.state.session_signer = cached
    return cached


async def read_session(request: Request, runtime: Runtime) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    signer = await _serializer(request, runtime)
    try:
        data: dict[str, Any] = signer.loads(raw, max_age=int(runtime.settings.session_ttl_h * 3600))
    except BadSignature:  # also expired (SignatureExpired is a BadSignature)
        return None
    key_id, csrf = data.get("k"), data.get("c")
    if not isinstance(csrf, str) or not (key_id is None or isinstance(key_id, int)):
        return None
    return Session(key_id=key_id, csrf=csrf)


def new_session(key_id: int | None) -> Session:
    return Session(key_id=key_id, csrf=secrets.token_urlsafe(32))


async def visitor(request: Request, runtime: Runtime, needed: Role = Role.VIEWER) -> Visitor:
    """The visitor allowed to do what needs `needed`, or AccessDenied (401: log in)."""
    session = await read_session(request, runtime)
    key_id = session.key_id if session else None
    principal = await access.authorize(runtime, request, needed, key_id=key_id)
    if session is None:
        return Visitor(principal=principal, session=new_session(None), fresh=True)
    return Visitor(principal=principal, session=session, fresh=False)


def check_csrf(visitor: Visitor, token: str | None) -> None:
    if visitor.fresh or not token or not hmac.compare_digest(token, visitor.session.csrf):
        raise AccessDenied(403, "missing or stale form token; reload the page and try again")


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


async def set_cookie(
    request: Request, runtime: Runtime, response: Response, session: Session
) -> None:
    signer = await _serializer(request, runtime)
    response.set_cookie(
        COOKIE,
        signer.dumps({"k": session.key_id, "c": session.csrf}),
        max_age=int(runtime.settings.session_ttl_h * 3600),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


class LoginLimiter:
    """At most `per_minute` login attempts per client address, in this process."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.attempts: dict[str, collections.deque[float]] = {}

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        recent = self.attempts.setdefault(client, collections.deque())
        while recent and now - recent[0] > LOGIN_WINDOW_S:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        if len(self.attempts) > 10_000:  # forget idle addresses rather than grow forever
            for address in [a for a, q in self.attempts.items() if not q]:
                del self.attempts[address]
        return True
