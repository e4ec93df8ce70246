"""What a background service's step is handed: who runs it, why now, and how to report lag.

A service is declared on a `JobRegistry`; its step is one iteration of the loop:

    @registry.service("inventory-monitoring", interval_s=3600, listen="catalog_change_log")
    async def inventory_monitoring(ctx: ServiceContext) -> None:
        '''Alert on stock level changes; a full sweep every hour.'''
        full_sweep = ctx.trigger is not Trigger.NOTIFY
        ...
        ctx.set_lag(rows_behind)

The step runs on the one instance that leads the service; catalog.work.services runs the loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catalog.bootstrap import Runtime


class Trigger(StrEnum):
    """Why a step runs now."""

    TAKEOVER = "takeover"  # the first step after this instance took the lead
    INTERVAL = "interval"  # `interval_s` passed since the previous step started
    NOTIFY = "notify"  # a NOTIFY on the service's `listen` channel
    WAKE = "wake"  # an operator asked for a run (management API)
    RETRY = "retry"  # the previous step failed and its backoff is over


class ServiceStopping(Exception):
    """Raised by `ServiceContext.check_stop` once the step should give up; not a failure."""


@dataclass
class ServiceContext:
    """One step's view of its service. Steps take it as their only argument."""

    runtime: Runtime
    name: str
    instance: str  # the instance leading the service, host:pid
    trigger: Trigger
    interval_s: float
    log: logging.Logger
    _should_stop: Callable[[], bool] = field(repr=False)
    _lag: float | None = field(default=None, repr=False)

    def should_stop(self) -> bool:
        """True once this instance is shutting down or lost the lead; finish up and return."""
        return self._should_stop()

    def check_stop(self) -> None:
        """Raise `ServiceStopping` if the step should stop; call it between units of work."""
        if self.should_stop():
            raise ServiceStopping(f"service {self.name} is stopping on {self.instance}")

    def set_lag(self, value: float) -> None:
        """Report how far behind the service is (rows, seconds: the service's own unit)."""
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"lag must be a finite number >= 0, not {value!r}")
        self._lag = float(value)

    @property
    def lag(self) -> float | None:
        """The lag set during this step, if any."""
        return self._lag
