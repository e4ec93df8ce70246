"""Driving the dashboard over HTTP: reading a page's CSRF token, logging in."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def csrf_of(http: httpx.AsyncClient, path: str = "/dashboard/login") -> str:
    """Open `path` (issuing the session cookie if needed) and return its form token."""
    page = await http.get(path)
    found = CSRF.search(page.text)
    assert found, f"no form token on {path}: {page.status_code} {page.text[:300]}"
    return found.group(1)


async def log_in(http: httpx.AsyncClient, secret: str) -> httpx.Response:
    token = await csrf_of(http)
    return await http.post("/dashboard/login", data={"key": secret, "csrf": token})
