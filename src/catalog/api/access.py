"""Who may do what: deny by default, API keys with roles once any exist.

With no active key, only this machine may use the management API, the dashboard and
`/metrics` (the embedded default); everyone else gets 403 and is told how to configure keys.
A request that carries forwarded headers came through a proxy and is never local: behind a
proxy on the same host every request would otherwise look local (the old Hangfire trap).

Once a key exists every protected request needs one (`Authorization: Bearer <key>`, or a
dashboard session made from one) whose role is high enough:

    viewer    read everything
    operator  + trigger, retry, cancel, delete jobs; catalogue writes
    admin     + pause, resume, reset and re-time schedules; manage keys (/api/access/keys)

Keys are looked up in the database on every request, so revoking one takes effect at once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Awaitable, Callable
from enum import StrEnum

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from catalog.api.openapi import guards_access
from catalog.bootstrap import Runtime
from catalog.store import access_keys

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORWARDED_HEADERS = ("forwarded", "x-forwarded-for")

HOW_TO_CONFIGURE = (
    "create an API key with `catalog keys create --role viewer --name NAME` and send it as"
    " `Authorization: Bearer <key>`"
)


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a request acts as: a key, or this machine while no key exists."""

    role: Role
    name: str
    key_id: int | None = None


LOCAL = Principal(role=Role.ADMIN, name="local")


class AccessDenied(Exception):
    """401 (who are you?) or 403 (not you, or not from there); answered with a `detail`."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local(request: Request) -> bool:
    """From this machine, and not relayed by a proxy (which would make everyone local)."""
    if any(request.headers.get(name) is not None for name in FORWARDED_HEADERS):
        return False
    return is_loopback(request.client.host if request.client else None)


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AccessDenied(401, "the Authorization header must be `Bearer <key>`")
    return secret.strip()


def management_role(method: str, route: str) -> Role:
    """The role a management API route needs: reads, operations, schedule edits."""
    if route.startswith("/api/access/"):
        return Role.ADMIN  # keys: even listing them is for admins
    if method in READ_METHODS:
        return Role.VIEWER
    if route.startswith("/api/backgroundjobs/recurring-jobs/") and not route.endswith("/trigger"):
        return Role.ADMIN  # re-time, pause, resume, reset
    return Role.OPERATOR


async def authorize(
    runtime: Runtime,
    request: Request,
    needed: Role,
    *,
    key_id: int | None = None,
    open_without_keys: bool = False,
) -> Principal:
    """The principal allowed to do what needs `needed`, or AccessDenied.

    `key_id` is a dashboard session's key; `open_without_keys` lets anyone in while no key
    exists (catalogue writes, as before keys).
    """
    secret = bearer_secret(request)
    async with runtime.work.pool.connection() as conn:
        found = await access_keys.lookup(conn, secret=secret, key_id=key_id)
    if secret is not None or key_id is not None:
        if found.key is None:
            raise AccessDenied(401, "unknown or revoked API key")
        principal = Principal(role=Role(found.key.role), name=found.key.name, key_id=found.key.id)
        if not principal.role.allows(needed):
            raise AccessDenied(
                403, f"this needs the {needed} role; key {principal.name!r} is {principal.role}"
            )
        return principal
    if found.any_active:
        raise AccessDenied(401, f"this needs an API key with the {needed} role: {HOW_TO_CONFIGURE}")
    if open_without_keys:
        return LOCAL
    if is_local(request):
        return LOCAL
    raise AccessDenied(
        403,
        "only loopback clients (with no proxy headers) are let in until API keys are configured;"
        f" {HOW_TO_CONFIGURE}",
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


@guards_access
async def management_access(request: Request) -> Principal:
    """Dependency of the management API routers."""
    needed = management_role(request.method, _route_path(request))
    return await authorize(_runtime(request), request, needed)


@guards_access
async def catalogue_access(request: Request) -> Principal | None:
    """Dependency of the catalogue routers: reads public unless configured, writes operator."""
    runtime = _runtime(request)
    if request.method in READ_METHODS:
        if not runtime.settings.catalogue_reads_need_key:
            return None
        return await authorize(runtime, request, Role.VIEWER, open_without_keys=True)
    return await authorize(runtime, request, Role.OPERATOR, open_without_keys=True)


def requires(needed: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency letting in only principals with `needed` (or local, with no keys)."""

    async def dependency(request: Request) -> Principal:
        return await authorize(_runtime(request), request, needed)

    return guards_access(dependency)


def _denied(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AccessDenied)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AccessDenied, _denied)
