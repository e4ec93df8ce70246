"""Cron arithmetic: fields, names, steps, the day-of-month/day-of-week rule, and DST."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.domain.errors import InvalidInput
from catalog.work.schedules import cron
from catalog.work.schedules.cron import InvalidCron, InvalidTimeZone

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def run(expr: str, start: datetime, tz: ZoneInfo = UTC_ZONE, count: int = 5) -> list[datetime]:
    return cron.upcoming(cron.parse(expr), start, tz, count=count)


def between(expr: str, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    return cron.slots_between(cron.parse(expr), start, end, tz, limit=10_000)


def local(slots: list[datetime], tz: ZoneInfo) -> list[str]:
    return [slot.astimezone(tz).strftime("%m-%d %H:%M:%S %Z") for slot in slots]


# --- parsing ----------------------------------------------------------------------------------


def test_five_fields_fire_on_whole_minutes() -> None:
    assert run("*/15 * * * *", utc(2025, 1, 1, 10, 7, 30), count=3) == [
        utc(2025, 1, 1, 10, 15),
        utc(2025, 1, 1, 10, 30),
        utc(2025, 1, 1, 10, 45),
    ]


def test_six_fields_take_seconds_first() -> None:
    expr = cron.parse("*/20 * * * * *")
    assert expr.has_seconds
    assert run("*/20 * * * * *", utc(2025, 1, 1, 10, 0, 5), count=3) == [
        utc(2025, 1, 1, 10, 0, 20),
        utc(2025, 1, 1, 10, 0, 40),
        utc(2025, 1, 1, 10, 1, 0),
    ]


def test_every_second() -> None:
    start = utc(2025, 1, 1, 23, 59, 58)
    assert run("* * * * * *", start, count=3) == [
        start + timedelta(seconds=1),
        start + timedelta(seconds=2),
        start + timedelta(seconds=3),
    ]


def test_next_after_is_strictly_after_even_with_microseconds() -> None:
    expr = cron.parse("0 * * * *")
    assert cron.next_after(expr, utc(2025, 1, 1, 10), UTC_ZONE) == utc(2025, 1, 1, 11)
    just_before = utc(2025, 1, 1, 9, 59, 59) + timedelta(microseconds=999_999)
    assert cron.next_after(expr, just_before, UTC_ZONE) == utc(2025, 1, 1, 10)
    assert cron.next_after(expr, utc(2025, 1, 1, 10) + timedelta(microseconds=1), UTC_ZONE) == (
        utc(2025, 1, 1, 11)
    )


@pytest.mark.parametrize(
    ("expr", "minutes"),
    [
        ("1-10/2 * * * *", [1, 3, 5, 7, 9]),
        ("5/20 * * * *", [5, 25, 45]),
        ("0,30,45 * * * *", [0, 30, 45]),
        ("10-12,50 * * * *", [10, 11, 12, 50]),
        ("*/25 * * * *", [0, 25, 50]),
    ],
)
def test_lists_ranges_and_steps(expr: str, minutes: list[int]) -> None:
    assert list(cron.parse(expr).minutes) == minutes


def test_month_and_weekday_names_are_case_insensitive() -> None:
    expr = cron.parse("0 9 * jan-MAR,Dec Mon-fri")
    assert expr.months == {1, 2, 3, 12}
    assert expr.weekdays == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("sunday", ["0", "7", "SUN", "sun"])
def test_zero_and_seven_are_both_sunday(sunday: str) -> None:
    # 2025-01-05 is a Sunday.
    assert run(f"0 12 * * {sunday}", utc(2025, 1, 1), count=2) == [
        utc(2025, 1, 5, 12),
        utc(2025, 1, 12, 12),
    ]


def test_weekday_ranges_may_end_on_sunday() -> None:
    assert cron.parse("0 0 * * 5-7").weekdays == {5, 6, 0}
    assert cron.parse("0 0 * * FRI-SUN").weekdays == {5, 6, 0}


def test_macros() -> None:
    assert run("@daily", utc(2025, 1, 1, 5), count=1) == [utc(2025, 1, 2)]
    assert run("@hourly", utc(2025, 1, 1, 5, 1), count=1) == [utc(2025, 1, 1, 6)]
    assert run("@weekly", utc(2025, 1, 1), count=1) == [utc(2025, 1, 5)]
    assert run("@monthly", utc(2025, 1, 15), count=1) == [utc(2025, 2, 1)]
    assert run("@yearly", utc(2025, 1, 15), count=1) == [utc(2026, 1, 1)]


def test_spacing_is_normalised() -> None:
    assert cron.parse("  0   8 *\t* 1 ").text == "0 8 * * 1"


# --- days -------------------------------------------------------------------------------------


def test_either_day_field_matches_when_both_are_restricted() -> None:
    # The 13th, or any Friday (Vixie cron); January 2025: Fri 3, 10, 13 (Mon), 17.
    assert [d.day for d in run("0 0 13 * FRI", utc(2025, 1, 1), count=4)] == [3, 10, 13, 17]


def test_both_day_fields_must_match_when_one_starts_with_a_star() -> None:
    # Odd days that are Mondays: January 2025 Mondays are 6, 13, 20, 27.
    assert [d.day for d in run("0 0 */2 * MON", utc(2025, 1, 1), count=2)] == [13, 27]
    assert [d.day for d in run("0 0 * * MON", utc(2025, 1, 1), count=2)] == [6, 13]
    assert [d.day for d in run("0 0 13 * *", utc(2025, 1, 1), count=2)] == [13, 13]


def test_the_31st_skips_shorter_months() -> None:
    assert [(d.month, d.day) for d in run("0 0 31 * *", utc(2025, 1, 31, 1), count=4)] == [
        (3, 31),
        (5, 31),
        (7, 31),
        (8, 31),
    ]


def test_month_end_and_year_end_roll_over() -> None:
    assert run("0 0 1 * *", utc(2025, 12, 15), count=2) == [utc(2026, 1, 1), utc(2026, 2, 1)]
    assert run("59 23 31 12 *", utc(2025, 12, 31, 23, 59), count=1) == [utc(2026, 12, 31, 23, 59)]


def test_february_29_only_in_leap_years() -> None:
    slots = run("0 12 29 2 *", utc(2025, 1, 1), count=3)
    # 2100 is not a leap year: 2096 is followed by 2104.
    assert slots == [utc(2028, 2, 29, 12), utc(2032, 2, 29, 12), utc(2036, 2, 29, 12)]
    assert run("0 12 29 2 *", utc(2096, 3, 1), count=1) == [utc(2104, 2, 29, 12)]


def test_latest_at_or_before_and_previous() -> None:
    expr = cron.parse("0 */6 * * *")
    assert cron.latest_at_or_before(expr, utc(2025, 1, 1, 12), UTC_ZONE) == utc(2025, 1, 1, 12)
    assert cron.latest_at_or_before(expr, utc(2025, 1, 1, 11, 59), UTC_ZONE) == utc(2025, 1, 1, 6)
    assert cron.previous(expr, utc(2025, 1, 1, 12), UTC_ZONE) == utc(2025, 1, 1, 6)
    assert cron.previous(expr, utc(2025, 1, 1), UTC_ZONE) == utc(2024, 12, 31, 18)
    leap = cron.parse("0 0 29 2 *")
    assert cron.previous(leap, utc(2025, 6, 1), UTC_ZONE) == utc(2024, 2, 29)


def test_an_aware_start_is_required() -> None:
    with pytest.raises(ValueError, match="aware"):
        cron.next_after(cron.parse("* * * * *"), datetime(2025, 1, 1), UTC_ZONE)


# --- invalid input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "it is empty"),
        ("* * * *", "it has 4 fields"),
        ("* * * * * * *", "it has 7 fields"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("* 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field '0': 0 is out of range 1-31"),
        ("* * * 13 *", "month field '13': 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field '8': 8 is out of range 0-7"),
        ("60 * * * * *", "second field '60'"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("*/x * * * *", "step 'x' must be a positive number"),
        ("10-5 * * * *", "range 10-5 runs backwards"),
        ("1,,2 * * * *", "empty list item"),
        ("a * * * *", "'a' is not a number"),
        ("* * * FOO *", "'FOO' is not a number or a name such as JAN"),
        ("* * * * FUNDAY", "or a name such as MON"),
        ("* * L * *", "not supported"),
        ("* * 15W * *", "not supported"),
        ("* * * * 1#2", "not supported"),
        ("? * * * *", "'?' is only allowed in the day fields"),
        ("0 0 30 2 *", "never occurs"),
        ("0 0 31 4,6,9,11 *", "never occurs"),
        ("@reboot", "unknown macro"),
        ("-1 * * * *", "is not a number"),
        ("² * * * *", "'²' is not a number"),
        ("*/1000000000 * * * *", "must be a positive number"),
    ],
)
def test_invalid_expressions_are_refused_with_a_clear_message(expr: str, message: str) -> None:
    with pytest.raises(InvalidCron, match="invalid cron expression") as caught:
        cron.parse(expr)
    assert message in caught.value.message
    assert isinstance(caught.value, InvalidInput)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.lists(
            st.text(alphabet="0123456789*/-,?LW#²٣abcJANMONsun ", max_size=8),
            min_size=5,
            max_size=6,
        ).map(" ".join),
    )
)
def test_any_text_parses_or_is_refused_as_invalid_cron(text: str) -> None:
    try:
        expr = cron.parse(text)
    except InvalidCron:
        return
    assert cron.next_after(expr, datetime(2025, 1, 1, tzinfo=UTC), UTC_ZONE).tzinfo is UTC


def test_question_mark_stands_for_any_day() -> None:
    assert run("0 0 ? * MON", utc(2025, 1, 1), count=1) == [utc(2025, 1, 6)]


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Europe", "../etc/passwd", "/UTC", "utc "])
def test_invalid_time_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidTimeZone, match="unknown time zone"):
        cron.zone(name)


def test_valid_time_zone() -> None:
    assert cron.zone("Europe/Berlin") == BERLIN


# --- DST --------------------------------------------------------------------------------------


def test_berlin_0230_runs_once_on_spring_forward_at_0330_cest() -> None:
    # 2025-03-30: 02:00 CET -> 03:00 CEST; 02:30 does not exist.
    slots = between("30 2 * * *", utc(2025, 3, 28), utc(2025, 4, 2), BERLIN)
    assert slots == [
        utc(2025, 3, 28, 1, 30),
        utc(2025, 3, 29, 1, 30),
        utc(2025, 3, 30, 1, 30),  # = 03:30 CEST: the gap's end plus 30 minutes
        utc(2025, 3, 31, 0, 30),
        utc(2025, 4, 1, 0, 30),
    ]
    assert local(slots, BERLIN)[2] == "03-30 03:30:00 CEST"


def test_berlin_0230_runs_once_on_fall_back_at_the_first_occurrence() -> None:
    # 2025-10-26: 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    slots = between("30 2 * * *", utc(2025, 10, 24), utc(2025, 10, 29), BERLIN)
    assert slots == [
        utc(2025, 10, 24, 0, 30),
        utc(2025, 10, 25, 0, 30),
        utc(2025, 10, 26, 0, 30),  # 02:30 CEST, not again at 02:30 CET
        utc(2025, 10, 27, 1, 30),
        utc(2025, 10, 28, 1, 30),
    ]


def test_berlin_fixed_hour_times_are_unaffected_by_the_change() -> None:
    slots = between("0 8 * * *", utc(2025, 3, 29), utc(2025, 4, 1), BERLIN)
    assert local(slots, BERLIN) == [
        "03-29 08:00:00 CET",
        "03-30 08:00:00 CEST",
        "03-31 08:00:00 CEST",
    ]


def test_every_quarter_hour_keeps_its_interval_through_both_berlin_changes() -> None:
    spring = between("*/15 * * * *", utc(2025, 3, 30, 0), utc(2025, 3, 30, 2), BERLIN)
    assert [b - a for a, b in itertools.pairwise(spring)] == [timedelta(minutes=15)] * 7
    assert local(spring, BERLIN)[2:4] == ["03-30 01:45:00 CET", "03-30 03:00:00 CEST"]
    fall = between("*/15 * * * *", utc(2025, 10, 25, 23, 59), utc(2025, 10, 26, 1, 45), BERLIN)
    assert [b - a for a, b in itertools.pairwise(fall)] == [timedelta(minutes=15)] * 7
    # The repeated hour 02:00-02:59 fires in both passes.
    assert local(fall, BERLIN) == [
        "10-26 02:00:00 CEST",
        "10-26 02:15:00 CEST",
        "10-26 02:30:00 CEST",
        "10-26 02:45:00 CEST",
        "10-26 02:00:00 CET",
        "10-26 02:15:00 CET",
        "10-26 02:30:00 CET",
        "10-26 02:45:00 CET",
    ]


def test_hourly_fires_every_real_hour_through_both_berlin_changes() -> None:
    spring = between("0 * * * *", utc(2025, 3, 29, 23, 30), utc(2025, 3, 30, 3), BERLIN)
    assert spring == [utc(2025, 3, 30, h) for h in range(4)]
    fall = between("0 * * * *", utc(2025, 10, 25, 22, 30), utc(2025, 10, 26, 3), BERLIN)
    assert fall == [utc(2025, 10, 25, 23), *(utc(2025, 10, 26, h) for h in range(4))]
    assert local(fall, BERLIN)[1:3] == ["10-26 02:00:00 CEST", "10-26 02:00:00 CET"]


def test_restricted_hour_with_minute_steps_fires_only_in_the_first_pass() -> None:
    fall = between("*/30 2 * * *", utc(2025, 10, 25, 12), utc(2025, 10, 26, 12), BERLIN)
    assert local(fall, BERLIN) == ["10-26 02:00:00 CEST", "10-26 02:30:00 CEST"]


def test_new_york_spring_forward_and_fall_back() -> None:
    # 2025-03-09: 02:00 EST -> 03:00 EDT. 2025-11-02: 02:00 EDT -> 01:00 EST.
    spring = between("30 2 * * *", utc(2025, 3, 8), utc(2025, 3, 11), NEW_YORK)
    assert local(spring, NEW_YORK) == [
        "03-08 02:30:00 EST",
        "03-09 03:30:00 EDT",
        "03-10 02:30:00 EDT",
    ]
    fall = between("30 1 * * *", utc(2025, 11, 1), utc(2025, 11, 4), NEW_YORK)
    assert local(fall, NEW_YORK) == [
        "11-01 01:30:00 EDT",
        "11-02 01:30:00 EDT",
        "11-03 01:30:00 EST",
    ]
    hourly = between("0 * * * *", utc(2025, 11, 2, 3, 30), utc(2025, 11, 2, 7), NEW_YORK)
    assert local(hourly, NEW_YORK) == [
        "11-02 00:00:00 EDT",
        "11-02 01:00:00 EDT",
        "11-02 01:00:00 EST",
        "11-02 02:00:00 EST",
    ]


def test_lord_howe_half_hour_shift() -> None:
    # 2025-10-05: 02:00 +1030 -> 02:30 +11; 2025-04-06: 02:00 +11 -> 01:30 +1030.
    spring = between("15 2 * * *", utc(2025, 10, 3), utc(2025, 10, 6), LORD_HOWE)
    offsets = [slot.astimezone(LORD_HOWE).strftime("%m-%d %H:%M %z") for slot in spring]
    assert offsets == ["10-04 02:15 +1030", "10-05 02:45 +1100", "10-06 02:15 +1100"]
    fall = between("45 1 * * *", utc(2025, 4, 4), utc(2025, 4, 7), LORD_HOWE)
    assert [s.astimezone(LORD_HOWE).strftime("%m-%d %H:%M %z") for s in fall] == [
        "04-05 01:45 +1100",
        "04-06 01:45 +1100",  # the first pass of the repeated half hour
        "04-07 01:45 +1030",
    ]
    quarter = between("*/15 * * * *", utc(2025, 4, 5, 14, 0), utc(2025, 4, 5, 16, 0), LORD_HOWE)
    assert [b - a for a, b in itertools.pairwise(quarter)] == [timedelta(minutes=15)] * (
        len(quarter) - 1
    )


def test_a_change_at_midnight_is_handled_on_the_right_day() -> None:
    # America/Santiago moves its clocks at midnight; 00:30 falls into the gap on 2025-09-07.
    santiago = ZoneInfo("America/Santiago")
    slots = between("30 0 * * *", utc(2025, 9, 5), utc(2025, 9, 9), santiago)
    assert [s.astimezone(santiago).strftime("%m-%d %H:%M %z") for s in slots] == [
        "09-05 00:30 -0400",
        "09-06 00:30 -0400",
        "09-07 01:30 -0300",
        "09-08 00:30 -0300",
    ]


# --- against a brute-force model of the rules ------------------------------------------------


def expected_slots(expr: cron.CronExpr, tz: ZoneInfo, first_day: date, days: int) -> list[datetime]:
    """Every slot of `days` local days by the documented rules, one wall time at a time."""
    found: set[datetime] = set()
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if not expr.matches_day(day):
            continue
        for hour in expr.hours:
            for minute in expr.minutes:
                for second in expr.seconds:
                    wall = datetime(day.year, day.month, day.day, hour, minute, second)
                    first = wall.replace(tzinfo=tz, fold=0)
                    second_pass = wall.replace(tzinfo=tz, fold=1)
                    exists = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
                    found.add(first.astimezone(UTC))
                    repeated = exists and first.utcoffset() != second_pass.utcoffset()
                    if repeated and expr.hour_interval:
                        found.add(second_pass.astimezone(UTC))
    return sorted(found)


@pytest.mark.parametrize(
    ("expr", "zone_name", "first_day"),
    [
        ("30 2 * * *", "Europe/Berlin", date(2025, 3, 29)),
        ("*/10 * * * *", "Europe/Berlin", date(2025, 10, 25)),
        ("0 */2 * * *", "Europe/Berlin", date(2025, 3, 29)),
        ("*/20 1-3 * * *", "America/New_York", date(2025, 11, 1)),
        ("*/10 * * * *", "Australia/Lord_Howe", date(2025, 4, 5)),
        ("*/30 * * * *", "America/Santiago", date(2025, 4, 5)),
        ("0 * 30,31 12 *", "Pacific/Apia", date(2011, 12, 29)),  # Samoa skipped 30 Dec 2011
        ("*/7 * * * * *", "Europe/Berlin", date(2025, 3, 30)),
    ],
)
def test_iterating_forward_and_back_matches_the_rules(
    expr: str, zone_name: str, first_day: date
) -> None:
    parsed, tz = cron.parse(expr), ZoneInfo(zone_name)
    days = 1 if parsed.has_seconds else 3
    expected = expected_slots(parsed, tz, first_day, days)
    first, last = expected[0], expected[-1]
    forward = [first, *cron.slots_between(parsed, first, last, tz, limit=100_000)]
    assert forward == expected
    backward = [last]
    while backward[-1] > first:
        backward.append(cron.previous(parsed, backward[-1], tz))
    assert backward[::-1] == expected


@settings(max_examples=150, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    expr=st.sampled_from(["*/15 * * * *", "30 2 * * *", "0 0 * * 0", "0 12 13 * FRI", "* * * * *"]),
    zone_name=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
)
def test_next_and_latest_agree(moment: datetime, expr: str, zone_name: str) -> None:
    parsed, tz = cron.parse(expr), ZoneInfo(zone_name)
    at = moment.replace(tzinfo=UTC)
    following = cron.next_after(parsed, at, tz)
    latest = cron.latest_at_or_before(parsed, at, tz)
    assert latest <= at < following
    # Nothing lies between the two, and each is a slot of the other's search.
    assert cron.next_after(parsed, latest, tz) == following
    assert cron.latest_at_or_before(parsed, following, tz) == following
    assert cron.previous(parsed, following, tz) == latest
