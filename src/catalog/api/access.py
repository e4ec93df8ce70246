"""Who may use the management API: deny by default.

Until API keys exist (roles viewer/operator/admin, a later issue), only loopback clients may
use the management API, as with the embedded default. Anyone else gets 403, not an open door.
"""

from __future__ import annotations

import ipaddress

from fastapi import HTTPException, Request, status


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def loopback_only(request: Request) -> None:
    """Refuse the request unless it comes from this machine."""
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the management API answers loopback clients only until API keys are configured",
        )
