"""Scheduler fault hooks for the fault tests, named in CATALOG_SCHEDULER_FAULT_HOOKS.

- `crash_after_claim`: the scheduler SIGKILLs its own process right after it claims its first
  slot of `test-every-second`: after the INSERT, before the enqueue and the commit.
- `slow_lock`: the scheduler reaches for a schedule's row lock 0.3 s late, so that another
  worker's scheduler wins every race for a slot.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime

from catalog.work.schedules.scheduler import FaultHooks

VICTIM = "test-every-second"
HANDICAP_S = 0.3


async def _die_after_claim(schedule_id: str, slot: datetime | None) -> None:
    if schedule_id == VICTIM and slot is not None:
        print(f"claimed {schedule_id} slot {slot.isoformat()}; killing myself", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


async def _lock_late(schedule_id: str, slot: datetime | None) -> None:
    await asyncio.sleep(HANDICAP_S)


crash_after_claim = FaultHooks(after_claim=_die_after_claim)
slow_lock = FaultHooks(before_lock=_lock_late)
