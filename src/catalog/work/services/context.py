"""What a background service's step is handed: who runs it, why now, and how to report lag.

A service is declared on a `WorkRegistry`; its step is one iteration of the loop:

    @registry.service("inventory-monitoring", interval_s=3600, listen="catalog_change_log")
    async def inventory_monitoring(ctx: ServiceContext) -> None:
        '''Alert on stock level changes; a full sweep every hour.'''
        full_sweep = ctx.trigger is not Trigger.NOTIFY
        ...
        ctx.set_lag(rows=rows_behind)

The step runs on the one instance that leads the service; `catalog.work.services.loop` runs
the loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from catalog.work.declarations import LagUnit

if TYPE_CHECKING:
    from catalog.work.resources import Resources


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

    resources: Resources  # what the step may use: settings, database, the job engine
    name: str
    instance: str  # the instance leading the service, host:pid
    trigger: Trigger
    interval_s: float
    lag_unit: LagUnit  # as declared with the service
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

    def set_lag(self, *, rows: int | None = None, seconds: float | None = None) -> None:
        """Report how far behind the service is, in the unit it declares (`lag_unit`)."""
        if (rows is None) == (seconds is None):
            raise ValueError("give the lag in one unit: set_lag(rows=...) or set_lag(seconds=...)")
        unit, value = (LagUnit.ROWS, rows) if rows is not None else (LagUnit.SECONDS, seconds)
        if unit is not self.lag_unit:
            raise ValueError(
                f"service {self.name} reports its lag in {self.lag_unit}, not {unit}"
                f" (declare lag_unit=LagUnit.{unit.name} with the service)"
            )
        assert value is not None
        if isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise ValueError(f"lag must be a finite number >= 0, not {value!r}")
        self._lag = float(value)

    @property
    def lag(self) -> float | None:
        """The lag set during this step, if any, in `lag_unit`."""
        return self._lag
