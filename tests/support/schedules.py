"""Recurring jobs for the scheduler's tests, loaded into workers with CATALOG_JOB_MODULES."""

from __future__ import annotations

import asyncio
from datetime import datetime

from catalog.work.context import JobContext
from catalog.work.declarations import Misfire, Schedule, WorkRegistry
from catalog.work.policy import Overlap

registry = WorkRegistry()

# Off by default so that it only runs where a test turns it on (CATALOG_SCHEDULES).
EVERY_SECOND = Schedule("* * * * * *", enabled=False)  # seconds first
HOURLY = Schedule("0 * * * *")
HOURLY_SKIP = Schedule("0 * * * *", misfire=Misfire.SKIP)
NIGHTLY_BERLIN = Schedule("30 2 * * *", tz="Europe/Berlin")  # through both DST changes
NEW_YEAR = Schedule("0 0 1 1 *")


@registry.job("test-every-second", schedule=EVERY_SECOND)
async def every_second(ctx: JobContext, *, scheduled_at: datetime) -> str:
    """Returns the slot it was given."""
    return scheduled_at.isoformat()


@registry.job("test-hourly", schedule=HOURLY)
async def hourly(ctx: JobContext, *, scheduled_at: datetime) -> str:
    """Returns the slot it was given; misfire=run_once."""
    return scheduled_at.isoformat()


@registry.job("test-hourly-skip", schedule=HOURLY_SKIP)
async def hourly_skip(ctx: JobContext, *, scheduled_at: datetime) -> str:
    """Returns the slot it was given; misfire=skip."""
    return scheduled_at.isoformat()


@registry.job("test-nightly", schedule=NIGHTLY_BERLIN)
async def nightly(ctx: JobContext, *, scheduled_at: datetime) -> str:
    """Returns the slot it was given; 02:30 Berlin time."""
    return scheduled_at.isoformat()


@registry.job("test-exclusive", lock="test-exclusive", overlap=Overlap.SKIP, schedule=NEW_YEAR)
async def exclusive(ctx: JobContext, *, scheduled_at: datetime, seconds: float = 0.0) -> str:
    """Never overlaps itself: a slot while it waits or runs is skipped."""
    await asyncio.sleep(seconds)
    return scheduled_at.isoformat()
