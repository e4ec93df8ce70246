"""A recurring job's schedule: cron, time zone, misfire policy, enabled; and its defaults.

The same value is declared beside a job (`Schedule("0 8 * * 1")`), stored per schedule in
PostgreSQL (current and default), and changed by operators field by field.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from catalog.domain.errors import InvalidInput
from catalog.work.schedules import cron
from catalog.work.schedules.cron import CronExpr

log = logging.getLogger(__name__)


class Misfire(StrEnum):
    """What a recurring job does about a slot missed while no scheduler ran."""

    RUN_ONCE = "run_once"  # one catch-up run if the latest missed slot is within the grace
    SKIP = "skip"  # wait for the next slot


class Field(StrEnum):
    """What an operator may change about a schedule (names as the API and database spell them)."""

    CRON = "cron"
    TIMEZONE = "timezone"
    ENABLED = "enabled"
    MISFIRE = "misfire"


class InvalidSchedule(InvalidInput):
    pass


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a recurring job fires, declared beside it: `Schedule("0 8 * * 1")`.

    `cron` has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first;
    `tz` is an IANA time zone the fields are read in.
    """

    cron: str
    tz: str = "UTC"
    misfire: Misfire = Misfire.RUN_ONCE
    enabled: bool = True

    def value(self, field: Field) -> object:
        return {
            Field.CRON: self.cron,
            Field.TIMEZONE: self.tz,
            Field.ENABLED: self.enabled,
            Field.MISFIRE: self.misfire,
        }[field]

    def parsed(self) -> tuple[CronExpr, ZoneInfo]:
        """The cron expression and zone; `InvalidCron`/`InvalidTimeZone` if either is invalid."""
        return cron.parse(self.cron), cron.zone(self.tz)

    def normalised(self) -> Schedule:
        """The same schedule, validated, with the cron's spacing normalised."""
        expr, _ = self.parsed()
        return dataclasses.replace(self, cron=expr.text, misfire=Misfire(self.misfire))

    def differing(self, other: Schedule) -> frozenset[Field]:
        return frozenset(f for f in Field if self.value(f) != other.value(f))


@dataclasses.dataclass(frozen=True)
class Change:
    """An operator's change of a schedule; None leaves a field as it is."""

    cron: str | None = None
    tz: str | None = None
    enabled: bool | None = None
    misfire: Misfire | None = None

    def given(self) -> dict[Field, object]:
        values = {
            Field.CRON: self.cron,
            Field.TIMEZONE: self.tz,
            Field.ENABLED: self.enabled,
            Field.MISFIRE: self.misfire,
        }
        return {f: value for f, value in values.items() if value is not None}

    def applied_to(self, schedule: Schedule) -> Schedule:
        """`schedule` with the given fields changed, validated."""
        return Schedule(
            cron=schedule.cron if self.cron is None else self.cron,
            tz=schedule.tz if self.tz is None else self.tz,
            enabled=schedule.enabled if self.enabled is None else self.enabled,
            misfire=schedule.misfire if self.misfire is None else self.misfire,
        ).normalised()


def defaults_of(
    declared: Mapping[str, Schedule], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, Schedule]:
    """Each recurring job's default schedule: its declaration, then `Settings.schedules` on top."""
    defaults: dict[str, Schedule] = {}
    for name, schedule in declared.items():
        try:
            normalised = schedule.normalised()
        except InvalidInput as exc:
            raise InvalidSchedule(f"job {name!r} declares an invalid schedule: {exc}") from exc
        defaults[name] = _overridden(name, normalised, overrides.get(name, {}))
    for name in overrides.keys() - declared.keys():
        log.warning("CATALOG_SCHEDULES names %r, which is not a recurring job here", name)
    return defaults


def _overridden(name: str, schedule: Schedule, override: Mapping[str, Any]) -> Schedule:
    where = f"CATALOG_SCHEDULES[{name!r}]"
    unknown = set(override) - {str(f) for f in Field}
    if unknown:
        raise InvalidSchedule(
            f"{where} has unknown keys {sorted(unknown)}; allowed: cron, timezone, enabled, misfire"
        )
    values = dict(override)
    if "enabled" in values and not isinstance(values["enabled"], bool):
        raise InvalidSchedule(f"{where}.enabled must be true or false")
    for key in ("cron", "timezone", "misfire"):
        if key in values and not isinstance(values[key], str):
            raise InvalidSchedule(f"{where}.{key} must be a string")
    if "timezone" in values:
        values["tz"] = values.pop("timezone")
    try:
        if "misfire" in values:
            values["misfire"] = Misfire(values["misfire"])
        return dataclasses.replace(schedule, **values).normalised()
    except ValueError as exc:
        raise InvalidSchedule(f"{where}.misfire must be 'run_once' or 'skip'") from exc
    except InvalidInput as exc:
        raise InvalidSchedule(f"{where}: {exc.message}") from exc
