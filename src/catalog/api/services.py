"""Management API: background services."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/backgroundjobs", tags=["background services"])
