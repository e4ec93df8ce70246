"""Cron arithmetic in an IANA time zone, DST-correct; pure and stdlib-only.

An expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first.
Each field takes `*`, numbers, ranges `1-5`, lists `1,3,5` and steps `*/15`, `1-10/2`, `5/15`
(from 5 to the end); months and weekdays also take names (`JAN`-`DEC`, `SUN`-`SAT`), 0 and 7 are
both Sunday, and `?` means `*` in the day fields. The macros `@yearly`, `@annually`,
`@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` are accepted too.
When both day-of-month and day-of-week are restricted (neither starts with `*`), a day matching
EITHER fires (Vixie cron); otherwise a day must match both.

Fields are matched against the wall clock of the schedule's time zone. When the clocks change:

- Spring forward: a wall time inside the gap does not exist. It runs as if the clocks had not
  moved yet, i.e. at its wall time read with the offset before the change; that is the instant
  the gap ends plus the wall time's distance into the gap (Europe/Berlin: 02:30 runs at 03:30
  CEST = 01:30 UTC). A slot landing on an instant that another slot already names runs once.
- Fall back: a wall time in the repeated hour happens twice. It runs once, at its first
  occurrence, unless the hour field starts with `*` (`*/15 * * * *`, `0 * * * *`): such
  interval-like schedules keep firing through both passes, as Hangfire/Cronos do.

All answers are whole-second UTC datetimes. The search assumes at most one offset change per
local day, which holds for every zone in the tz database.
"""

from __future__ import annotations

import bisect
import calendar
import dataclasses
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from catalog.domain.errors import InvalidInput

DAY_S = 86_400
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_QUARTZ_DAY = re.compile(r"[0-9]*[LW]|LW", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII only: str.isdigit() also takes "²", which int() refuses
# A day-of-month that never occurs in any of the schedule's months is refused at parse time,
# so any search ends within a few years (Feb 29 on a given weekday); this bounds it anyway.
SEARCH_LIMIT_YEARS = 400

MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # most days a month can have
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class InvalidCron(InvalidInput):
    def __init__(self, expr: str, problem: str) -> None:
        super().__init__(f"invalid cron expression {expr!r}: {problem}")
        self.expr = expr


class InvalidTimeZone(InvalidInput):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
        )
        self.name = name


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, MONTH_NAMES)
_DOW = _Field("day-of-week", 0, 7, DAY_NAMES)
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW)


@dataclasses.dataclass(frozen=True)
class CronExpr:
    """A parsed cron expression; build it with `parse`."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_either: bool  # both day fields restricted: a day matching either one fires
    hour_interval: bool  # hour field starts with `*`: fires in both passes of a repeated hour
    has_seconds: bool

    def __str__(self) -> str:
        return self.text

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        return in_days or in_weekdays if self.days_either else in_days and in_weekdays


def parse(expr: str) -> CronExpr:
    """Parse a 5-field (or seconds-first 6-field) cron expression; `InvalidCron` if malformed."""
    text = " ".join(expr.split())
    if not text:
        raise InvalidCron(expr, "it is empty")
    body = text
    if body.startswith("@"):
        if body.lower() not in MACROS:
            raise InvalidCron(expr, f"unknown macro; use one of {', '.join(MACROS)}")
        body = MACROS[body.lower()]
    parts = body.split(" ")
    if len(parts) not in (5, 6):
        raise InvalidCron(
            expr,
            f"it has {len(parts)} fields; expected 5 (minute hour day-of-month month "
            "day-of-week) or 6 (second minute hour day-of-month month day-of-week)",
        )
    has_seconds = len(parts) == 6
    if not has_seconds:
        parts = ["0", *parts]
    values = [_parse_field(expr, token, spec) for token, spec in zip(parts, _FIELDS, strict=True)]
    seconds, minutes, hours, days, months, weekdays = values
    dom_star = parts[3].startswith(("*", "?"))
    dow_star = parts[5].startswith(("*", "?"))
    parsed = CronExpr(
        text=text,
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        days_either=not dom_star and not dow_star,
        hour_interval=parts[2].startswith("*"),
        has_seconds=has_seconds,
    )
    if not parsed.days_either and not any(
        day <= MONTH_DAYS[month] for month in parsed.months for day in parsed.days
    ):
        raise InvalidCron(expr, "that day of the month never occurs in the given months")
    return parsed


def _parse_field(expr: str, token: str, spec: _Field) -> set[int]:
    def problem(text: str) -> InvalidCron:
        return InvalidCron(expr, f"{spec.name} field {token!r}: {text}")

    def value(text: str) -> int:
        if spec.names is not None and text.lower() in spec.names:
            return spec.names[text.lower()]
        if not _NUMBER.fullmatch(text):
            named = " or a name such as JAN" if spec is _MONTH else ""
            named = " or a name such as MON" if spec is _DOW else named
            raise problem(f"{text!r} is not a number{named}")
        number = int(text)
        if not spec.low <= number <= spec.high:
            raise problem(f"{number} is out of range {spec.low}-{spec.high}")
        return number

    found: set[int] = set()
    for item in token.split(","):
        if not item:
            raise problem("empty list item")
        if "#" in item or _QUARTZ_DAY.fullmatch(item):
            raise problem("L, W and # (Quartz extensions) are not supported")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
                raise problem(f"step {step_text!r} must be a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            if base == "?" and spec not in (_DOM, _DOW):
                raise problem("'?' is only allowed in the day fields")
            low, high = spec.low, (6 if spec is _DOW else spec.high)
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = value(first), value(last)
            if spec is _DOW and high == 0 and low > 0:
                high = 7  # FRI-SUN: Sunday as 7, the end of the week
            if low > high:
                raise problem(f"range {base} runs backwards")
        else:
            low = value(base)
            high = spec.high if slash else low
        found.update(range(low, high + 1, step))
    return found


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; `InvalidTimeZone` if there is no such zone."""
    if not name or name != name.strip():
        raise InvalidTimeZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimeZone(name) from None


def next_after(expr: CronExpr, after: datetime, tz: ZoneInfo) -> datetime:
    """The first slot strictly after `after` (aware), in UTC."""
    threshold = math.floor(_epoch(after, "after")) + 1
    day = _local_date(threshold - 1, tz) - timedelta(days=1)
    limit = day.year + SEARCH_LIMIT_YEARS
    found: int | None = None
    found_day: date | None = None
    while True:
        day = _matching_day(expr, day, step=1, limit=limit)
        if found_day is not None and day != found_day + timedelta(days=1):
            break
        candidate = _first_on_day(expr, day, tz, threshold)
        if candidate is not None:
            found = candidate if found is None else min(found, candidate)
            if found_day is not None:
                break
            # Slots of the next local day can precede this day's around a clock change.
            found_day = day
        elif found_day is not None:
            break
        day += timedelta(days=1)
    assert found is not None
    return datetime.fromtimestamp(found, UTC)


def latest_at_or_before(expr: CronExpr, at: datetime, tz: ZoneInfo) -> datetime:
    """The last slot at or before `at` (aware), in UTC."""
    threshold = math.floor(_epoch(at, "at"))
    day = _local_date(threshold, tz) + timedelta(days=1)
    limit = day.year - SEARCH_LIMIT_YEARS
    found: int | None = None
    found_day: date | None = None
    while True:
        day = _matching_day(expr, day, step=-1, limit=limit)
        if found_day is not None and day != found_day - timedelta(days=1):
            break
        candidate = _last_on_day(expr, day, tz, threshold)
        if candidate is not None:
            found = candidate if found is None else max(found, candidate)
            if found_day is not None:
                break
            found_day = day
        elif found_day is not None:
            break
        day -= timedelta(days=1)
    assert found is not None
    return datetime.fromtimestamp(found, UTC)


def previous(expr: CronExpr, before: datetime, tz: ZoneInfo) -> datetime:
    """The last slot strictly before `before` (aware), in UTC."""
    return latest_at_or_before(expr, _whole_second_before(before), tz)


def upcoming(expr: CronExpr, after: datetime, tz: ZoneInfo, *, count: int) -> list[datetime]:
    """The next `count` slots strictly after `after`, in UTC."""
    slots: list[datetime] = []
    for _ in range(count):
        after = next_after(expr, after, tz)
        slots.append(after)
    return slots


def slots_between(
    expr: CronExpr, after: datetime, until: datetime, tz: ZoneInfo, *, limit: int
) -> list[datetime]:
    """The slots in (`after`, `until`], at most `limit` of them (the earliest)."""
    slots: list[datetime] = []
    while len(slots) < limit:
        after = next_after(expr, after, tz)
        if after > until:
            break
        slots.append(after)
    return slots


def _epoch(moment: datetime, name: str) -> float:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return moment.timestamp()


def _whole_second_before(moment: datetime) -> datetime:
    """The latest whole second strictly before `moment`."""
    whole = moment.replace(microsecond=0)
    return whole - timedelta(seconds=1) if whole == moment else whole


def _local_date(epoch_s: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(epoch_s, tz).date()


def _matching_day(expr: CronExpr, day: date, *, step: int, limit: int) -> date:
    """The first day from `day` (going forward or back by `step`) whose date fields match."""
    while not expr.matches_day(day):
        if (step > 0 and day.year > limit) or (step < 0 and day.year < limit):
            raise InvalidCron(expr.text, f"no slot within {SEARCH_LIMIT_YEARS} years")
        if day.month not in expr.months:
            # Skip the rest of the month at once.
            if step > 0:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            else:
                day = day.replace(day=1) - timedelta(days=1)
        else:
            day += timedelta(days=step)
    return day


def _segments(expr: CronExpr, day: date, tz: ZoneInfo) -> list[tuple[int, int, int]]:
    """`day`'s wall-clock seconds [low, high), each with the UTC offset (s) that places them."""
    midnight = datetime.combine(day, time(), tzinfo=tz)
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    # fold=0: a midnight inside a gap reads with the offset before the change.
    before = _offset_s(midnight)
    if before == _offset_s(next_midnight):
        return [(0, DAY_S, before)]
    low = int(midnight.timestamp())
    high = int(next_midnight.timestamp())
    if _offset_at(high, tz) == before:
        return [(0, DAY_S, before)]
    while low < high:  # the first instant on the new offset
        mid = (low + high) // 2
        if _offset_at(mid, tz) != before:
            high = mid
        else:
            low = mid + 1
    change = low
    after = _offset_at(change, tz)
    wall_midnight = _wall_epoch(day)
    old_clock = change + before - wall_midnight  # where the old clock stops
    new_clock = change + after - wall_midnight  # where the new clock starts
    if after > before:
        # The gap's wall times keep the old offset: they land just after the gap.
        parts = [(0, min(new_clock, DAY_S), before), (max(new_clock, 0), DAY_S, after)]
    else:
        repeat_from = new_clock if expr.hour_interval else old_clock
        parts = [(0, min(old_clock, DAY_S), before), (max(repeat_from, 0), DAY_S, after)]
    return [(lo, hi, offset) for lo, hi, offset in parts if lo < hi]


def _first_on_day(expr: CronExpr, day: date, tz: ZoneInfo, threshold: int) -> int | None:
    """The earliest slot (epoch s) of local `day` at or after `threshold`."""
    wall_midnight = _wall_epoch(day)
    best: int | None = None
    for low, high, offset in _segments(expr, day, tz):
        wall = _first_time(expr, max(low, threshold - wall_midnight + offset), high)
        if wall is not None:
            instant = wall_midnight + wall - offset
            best = instant if best is None else min(best, instant)
    return best


def _last_on_day(expr: CronExpr, day: date, tz: ZoneInfo, threshold: int) -> int | None:
    """The latest slot (epoch s) of local `day` at or before `threshold`."""
    wall_midnight = _wall_epoch(day)
    best: int | None = None
    for low, high, offset in _segments(expr, day, tz):
        wall = _last_time(expr, low, min(high - 1, threshold - wall_midnight + offset))
        if wall is not None:
            instant = wall_midnight + wall - offset
            best = instant if best is None else max(best, instant)
    return best


def _first_time(expr: CronExpr, low: int, high: int) -> int | None:
    """The first matching second of the day in [low, high)."""
    if low >= high or low >= DAY_S:
        return None
    hour0, rest = divmod(max(low, 0), 3600)
    minute0, second0 = divmod(rest, 60)
    for hour in _from(expr.hours, hour0):
        if hour > hour0:
            found = hour * 3600 + expr.minutes[0] * 60 + expr.seconds[0]
            return found if found < high else None
        for minute in _from(expr.minutes, minute0):
            first_second = expr.seconds[0] if minute > minute0 else _next_in(expr.seconds, second0)
            if first_second is not None:
                found = hour * 3600 + minute * 60 + first_second
                return found if found < high else None
    return None


def _last_time(expr: CronExpr, low: int, high: int) -> int | None:
    """The last matching second of the day in [low, high]."""
    if low > high or high < 0:
        return None
    hour0, rest = divmod(min(high, DAY_S - 1), 3600)
    minute0, second0 = divmod(rest, 60)
    for hour in _down_from(expr.hours, hour0):
        if hour < hour0:
            found = hour * 3600 + expr.minutes[-1] * 60 + expr.seconds[-1]
            return found if found >= low else None
        for minute in _down_from(expr.minutes, minute0):
            last_second = expr.seconds[-1] if minute < minute0 else _prev_in(expr.seconds, second0)
            if last_second is not None:
                found = hour * 3600 + minute * 60 + last_second
                return found if found >= low else None
    return None


def _from(values: tuple[int, ...], start: int) -> Iterable[int]:
    return values[bisect.bisect_left(values, start) :]


def _down_from(values: tuple[int, ...], start: int) -> Iterable[int]:
    return reversed(values[: bisect.bisect_right(values, start)])


def _next_in(values: tuple[int, ...], start: int) -> int | None:
    i = bisect.bisect_left(values, start)
    return values[i] if i < len(values) else None


def _prev_in(values: tuple[int, ...], start: int) -> int | None:
    i = bisect.bisect_right(values, start)
    return values[i - 1] if i else None


def _wall_epoch(day: date) -> int:
    """`day`'s midnight as if the wall clock were UTC, in epoch seconds."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY_S


def _offset_s(moment: datetime) -> int:
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _offset_at(epoch_s: int, tz: ZoneInfo) -> int:
    return _offset_s(datetime.fromtimestamp(epoch_s, tz))
