"""Cron arithmetic in an IANA time zone, DST-correct: croniter on the wall clock plus our DST rule.

An expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first.
Each field takes `*`, numbers, ranges `1-5`, lists `1,3,5` and steps `*/15`, `1-10/2`, `5/15`
(from 5 to the end); months and weekdays also take names (`JAN`-`DEC`, `SUN`-`SAT`), 0 and 7 are
both Sunday, and `?` means `*` in the day fields. The macros `@yearly`, `@annually`,
`@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` are accepted too.
When both day-of-month and day-of-week are restricted (neither starts with `*`), a day matching
EITHER fires (Vixie cron); otherwise a day must match both.

`parse` checks each field and says what is wrong in words; croniter is then given the parsed
values as plain lists (so its own readings of `5-5` or `JAN-JAN` as "every" never apply) and
walks the naive wall clock. Each wall time becomes UTC instants by this rule:

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

import calendar
import copy
import dataclasses
import math
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from catalog.domain.errors import InvalidInput

DAY_S = 86_400
_WALL_EPOCH = datetime(1970, 1, 1)  # croniter reads naive datetimes as seconds from here
_QUARTZ_DAY = re.compile(r"[0-9]*[LW]|LW", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII only: str.isdigit() also takes "²", which int() refuses
SEARCH_LIMIT_YEARS = 400  # croniter's bound; `parse` refuses days that never occur anyway
_NEVER = 1 << 40  # seconds: beyond any wall time or instant a datetime can hold

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
    _walls: croniter = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Plain lists in croniter's field order (seconds last), `*` for a full field unless it is
        # a day field under the either-day rule, and that rule (ours) passed as `day_or`.
        fields = [(self.minutes, 60), (self.hours, 24), (self.days, 31), (self.months, 12)]
        fields += [(self.weekdays, 7)] + ([(self.seconds, 60)] if self.has_seconds else [])
        text = " ".join(
            "*"
            if len(values) == size and not (self.days_either and size in (31, 7))
            else ",".join(map(str, sorted(values)))
            for values, size in fields
        )
        walls = croniter(
            text, 0.0, day_or=self.days_either, max_years_between_matches=SEARCH_LIMIT_YEARS
        )
        object.__setattr__(self, "_walls", walls)

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
    days_either = not dom_star and not dow_star
    if not days_either and not any(day <= MONTH_DAYS[month] for month in months for day in days):
        raise InvalidCron(expr, "that day of the month never occurs in the given months")
    return CronExpr(
        text=text,
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        days_either=days_either,
        hour_interval=parts[2].startswith("*"),
        has_seconds=has_seconds,
    )


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
    walls = copy.copy(expr._walls)
    near = threshold  # no slot lies in [threshold, near - DAY_S)
    while True:
        since = max(threshold, near - DAY_S)
        best: int | None = None
        estimate = _NEVER
        for low, high, offset in _segments(near, tz, expr.hour_interval):
            # The segment's first wall time naming an instant at or after `since`.
            wall = _walk(expr, walls, max(low, since + offset) - 1, forward=True)
            estimate = min(estimate, wall - offset)
            if wall < high and wall - offset in _instants(expr, wall, tz):
                best = wall - offset if best is None else min(best, wall - offset)
        if best is not None and best <= near + DAY_S:
            return datetime.fromtimestamp(best, UTC)
        near = max(near + DAY_S, estimate - DAY_S)  # the segments only hold near `near`


def latest_at_or_before(expr: CronExpr, at: datetime, tz: ZoneInfo) -> datetime:
    """The last slot at or before `at` (aware), in UTC."""
    threshold = math.floor(_epoch(at, "at"))
    walls = copy.copy(expr._walls)
    near = threshold  # no slot lies in (near + DAY_S, threshold]
    while True:
        until = min(threshold, near + DAY_S)
        best: int | None = None
        estimate = -_NEVER
        for low, high, offset in _segments(near, tz, expr.hour_interval):
            wall = _walk(expr, walls, min(high - 1, until + offset) + 1, forward=False)
            estimate = max(estimate, wall - offset)
            if wall >= low and wall - offset in _instants(expr, wall, tz):
                best = wall - offset if best is None else max(best, wall - offset)
        if best is not None and best >= near - DAY_S:
            return datetime.fromtimestamp(best, UTC)
        near = min(near - DAY_S, estimate + DAY_S)


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


def _walk(expr: CronExpr, walls: croniter, start: int | None, *, forward: bool) -> int:
    """The next (or previous) matching wall time strictly beyond `start` (or the last answer),
    as seconds since 1970-01-01 on the naive wall clock."""
    try:
        found = walls.get_next(float, start) if forward else walls.get_prev(float, start)
    except CroniterBadDateError:
        raise InvalidCron(expr.text, f"no slot within {SEARCH_LIMIT_YEARS} years") from None
    return int(found)


def _instants(expr: CronExpr, wall_s: int, tz: ZoneInfo) -> list[int]:
    """The instants (epoch s) a matching wall time names, by the DST rule of the docstring."""
    wall = _WALL_EPOCH + timedelta(seconds=wall_s)
    # fold=0 reads a wall time in a gap with the offset before the change, and a repeated one
    # as its first occurrence; fold=1 names the second occurrence.
    first = _offset_s(wall.replace(tzinfo=tz))
    if expr.hour_interval:
        second = _offset_s(wall.replace(tzinfo=tz, fold=1))
        if second < first:  # repeated (in a gap the offset after the change is the larger)
            return [wall_s - first, wall_s - second]
    return [wall_s - first]


def _segments(near: int, tz: ZoneInfo, hour_interval: bool) -> list[tuple[int, int, int]]:
    """Wall-clock ranges [low, high) (s) read with one UTC offset each, true for instants within
    a day of `near`; the repeated hour is in both ranges when `hour_interval`."""
    before, after = _offset_at(near - DAY_S, tz), _offset_at(near + DAY_S, tz)
    if before == after:
        return [(-_NEVER, _NEVER, before)]
    low, high = near - DAY_S, near + DAY_S
    while low < high:  # the first instant on the new offset
        mid = (low + high) // 2
        if _offset_at(mid, tz) != before:
            high = mid
        else:
            low = mid + 1
    # Wall times up to where the later clock starts keep the old offset: those of a gap land just
    # after it, those of a repeated hour at their first occurrence.
    edge = low + max(before, after)
    second_pass = low + after if after < before and hour_interval else edge
    return [(-_NEVER, edge, before), (second_pass, _NEVER, after)]


def _offset_at(epoch_s: int, tz: ZoneInfo) -> int:
    return _offset_s(datetime.fromtimestamp(epoch_s, tz))


def _epoch(moment: datetime, name: str) -> float:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return moment.timestamp()


def _whole_second_before(moment: datetime) -> datetime:
    """The latest whole second strictly before `moment`."""
    whole = moment.replace(microsecond=0)
    return whole - timedelta(seconds=1) if whole == moment else whole


def _offset_s(moment: datetime) -> int:
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())
