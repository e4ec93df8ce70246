"""Loading this module into a worker makes its scheduler reach for a schedule's row lock 0.3 s
late, so that another worker's scheduler wins every race for a slot. The kill test loads it into
the survivor, so that the doomed worker is the one that claims a slot (and dies holding it)."""

from __future__ import annotations

import asyncio
from typing import Any

from catalog.work import schedules
from catalog.work.engine import JobRegistry

registry = JobRegistry()  # nothing to declare: loading the module is the point
HANDICAP_S = 0.3

_lock_for_firing = schedules.lock_for_firing


async def _lock_late(conn: Any, schedule_id: str) -> Any:
    await asyncio.sleep(HANDICAP_S)
    return await _lock_for_firing(conn, schedule_id)


schedules.lock_for_firing = _lock_late
