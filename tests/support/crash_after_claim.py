"""Loading this module into a worker makes its scheduler SIGKILL its own process right after it
claims its first slot of `test-every-second`: after the INSERT, before the enqueue and the
commit. The fault test loads it with CATALOG_JOB_MODULES into the worker it means to lose."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from typing import Any

from catalog.work import schedules
from catalog.work.engine import JobRegistry

registry = JobRegistry()  # nothing to declare: loading the module is the point
VICTIM = "test-every-second"

_claim_slot = schedules.claim_slot


async def _claim_then_die(conn: Any, schedule_id: str, slot: datetime, **options: Any) -> Any:
    slot_id = await _claim_slot(conn, schedule_id, slot, **options)
    if slot_id is not None and schedule_id == VICTIM:
        print(f"claimed {schedule_id} slot {slot.isoformat()}; killing myself", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return slot_id


schedules.claim_slot = _claim_then_die
