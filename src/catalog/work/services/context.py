"""What a background service's step is handed: who runs it, why now, and how to report lag.

A service is declared on a `WorkRegistry`; its step is one iteration of the loop:

    @registry.service("inventory-monitoring", interval_s=3600, listen="catalog_change_log")
    async def inventory_monitoring(ctx: ServiceContext) -> None:
        '''Alert on stock level changes; a full sweep every hour.'''
        full_sweep = ctx.trigger is not Trigger.NOTIFY
        ...
        ctx.set_lag(rows=rows_behind, seconds=oldest_unread_age_s)

The step runs on the one instance that leads the service; `catalog.work.services.loop` runs
the loop.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catalog.work.resources import Resources

LAG_ROWS_MAX = 2**63 - 1  # the status column is a bigint
DETAILS_MAX_BYTES = 4096  # as JSON


class Trigger(StrEnum):
    """Why a step runs now."""

    TAKEOVER = "takeover"  # the first step after this instance took the lead
    INTERVAL = "interval"  # `interval_s` passed since the previous step started
    NOTIFY = "notify"  # a NOTIFY on the service's `listen` channel
    WAKE = "wake"  # an operator asked for a run (management API)
    RETRY = "retry"  # the previous step failed and its backoff is over


@dataclass(frozen=True)
class ReportedLag:
    """How far behind a step said its service is; a unit it did not give is None (unknown)."""

    rows: int | None = None
    seconds: float | None = None


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
    log: logging.Logger
    _should_stop: Callable[[], bool] = field(repr=False)
    _lag: ReportedLag | None = field(default=None, repr=False)
    _details: dict[str, Any] | None = field(default=None, repr=False)

    def should_stop(self) -> bool:
        """True once this instance is shutting down or lost the lead; finish up and return."""
        return self._should_stop()

    def check_stop(self) -> None:
        """Raise `ServiceStopping` if the step should stop; call it between units of work."""
        if self.should_stop():
            raise ServiceStopping(f"service {self.name} is stopping on {self.instance}")

    def set_lag(self, *, rows: int | None = None, seconds: float | None = None) -> None:
        """Report how far behind the service is: rows to read, and/or the age of the oldest.

        Each call replaces the previous report of this step, a unit left out becoming unknown;
        a step that reports nothing leaves the last reported lag shown.
        """
        if rows is None and seconds is None:
            raise ValueError("set_lag needs the lag in rows, seconds or both")
        if rows is not None and (
            isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= LAG_ROWS_MAX
        ):
            raise ValueError(f"lag rows must be an int from 0 to 2**63 - 1, not {rows!r}")
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(f"lag seconds must be a finite number >= 0, not {seconds!r}")
        self._lag = ReportedLag(rows=rows, seconds=float(seconds) if seconds is not None else None)

    @property
    def lag(self) -> ReportedLag | None:
        """The lag reported during this step, if any."""
        return self._lag

    def set_details(self, **details: object) -> None:
        """Report what the service wants operators to see (JSON values), shown as `details`.

        Each call replaces the previous report of this step; a step that reports nothing leaves
        the last reported details shown.
        """
        try:
            encoded = json.dumps(details, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"service details must be JSON values: {error}") from None
        if len(encoded.encode()) > DETAILS_MAX_BYTES:
            raise ValueError(f"service details exceed {DETAILS_MAX_BYTES} bytes as JSON")
        self._details = dict(details)

    @property
    def details(self) -> dict[str, Any] | None:
        """The details reported during this step, if any."""
        return self._details
