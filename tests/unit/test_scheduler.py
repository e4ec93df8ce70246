"""The scheduler's plan for due slots: on time, caught up, or missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from catalog.work.schedules import cron
from catalog.work.schedules.scheduler import LATE_AFTER_S, Plan, plan
from catalog.work.schedules.timing import Misfire

HOURLY = cron.parse("0 * * * *")
EVERY_SECOND = cron.parse("* * * * * *")
UTC_ZONE = ZoneInfo("UTC")
GRACE_S = 3600.0


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 1, 6, hour, minute, second, tzinfo=UTC)


def test_nothing_is_due_before_the_next_slot() -> None:
    result = plan(
        HOURLY, UTC_ZONE, cursor=at(9, 30), now=at(9, 59, 59), misfire=Misfire.RUN_ONCE, grace_s=1
    )
    assert result == Plan()


def test_a_slot_seen_on_time_fires() -> None:
    result = plan(
        HOURLY, UTC_ZONE, cursor=at(9, 30), now=at(10, 0, 3), misfire=Misfire.SKIP, grace_s=0
    )
    assert result == Plan(on_time=(at(10),), cursor=at(10))


def test_several_seconds_of_slots_all_fire_when_a_scheduler_is_a_little_late() -> None:
    result = plan(
        EVERY_SECOND,
        UTC_ZONE,
        cursor=at(10, 0, 0),
        now=at(10, 0, 4),
        misfire=Misfire.SKIP,
        grace_s=0,
    )
    assert result.on_time == tuple(at(10, 0, s) for s in range(1, 5))
    assert result.missed is None and result.catch_up is None


def test_run_once_catches_up_the_latest_missed_slot_within_the_grace() -> None:
    result = plan(
        HOURLY,
        UTC_ZONE,
        cursor=at(10),
        now=at(13, 20),
        misfire=Misfire.RUN_ONCE,
        grace_s=GRACE_S,
    )
    assert result == Plan(catch_up=at(13), missed_since=at(11), cursor=at(13))


def test_run_once_does_not_catch_up_past_the_grace() -> None:
    result = plan(
        HOURLY, UTC_ZONE, cursor=at(10), now=at(13, 20), misfire=Misfire.RUN_ONCE, grace_s=600
    )
    assert result.catch_up is None
    assert (result.missed, result.missed_since, result.cursor) == (at(13), at(11), at(13))
    assert result.missed_reason is not None and "grace of 600 s" in result.missed_reason


def test_skip_never_catches_up() -> None:
    result = plan(
        HOURLY, UTC_ZONE, cursor=at(10), now=at(13, 20), misfire=Misfire.SKIP, grace_s=GRACE_S
    )
    assert result.catch_up is None and result.on_time == ()
    assert (result.missed, result.missed_since, result.cursor) == (at(13), at(11), at(13))


def test_a_single_missed_slot_has_no_range() -> None:
    result = plan(
        HOURLY,
        UTC_ZONE,
        cursor=at(10, 30),
        now=at(11, 5),
        misfire=Misfire.RUN_ONCE,
        grace_s=GRACE_S,
    )
    assert result == Plan(catch_up=at(11), missed_since=None, cursor=at(11))


def test_an_on_time_slot_makes_the_catch_up_needless() -> None:
    now = at(13, 0, 5)
    result = plan(
        HOURLY, UTC_ZONE, cursor=at(10), now=now, misfire=Misfire.RUN_ONCE, grace_s=GRACE_S
    )
    assert result.on_time == (at(13),)
    assert result.catch_up is None
    assert (result.missed, result.missed_since) == (at(12), at(11))


def test_lateness_limit_separates_late_from_missed() -> None:
    late = at(10) + timedelta(seconds=LATE_AFTER_S)
    result = plan(HOURLY, UTC_ZONE, cursor=at(9), now=late, misfire=Misfire.SKIP, grace_s=0)
    assert result.missed == at(10)  # exactly at the limit: missed
    just_in_time = late - timedelta(milliseconds=1)
    result = plan(HOURLY, UTC_ZONE, cursor=at(9), now=just_in_time, misfire=Misfire.SKIP, grace_s=0)
    assert result.on_time == (at(10),)


def test_on_time_slots_come_in_bounded_batches() -> None:
    result = plan(
        EVERY_SECOND,
        UTC_ZONE,
        cursor=at(10),
        now=at(10, 0, 10),
        misfire=Misfire.SKIP,
        grace_s=0,
        batch=3,
    )
    assert result.on_time == (at(10, 0, 1), at(10, 0, 2), at(10, 0, 3))
    assert result.cursor == at(10, 0, 3)
