"""Management API: recurring jobs (schedules)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/backgroundjobs", tags=["recurring jobs"])
