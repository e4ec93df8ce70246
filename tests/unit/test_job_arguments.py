"""A job's arguments against its declared parameters: names, required ones, JSON types, NUL."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import pytest

from catalog.domain.errors import InvalidInput
from catalog.work.arguments import InvalidArguments, check


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


async def typed(
    ctx: object,
    *,
    count: int,
    ratio: float = 1.0,
    name: str = "",
    flag: bool = False,
    when: datetime | None = None,
    tags: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    colour: Colour = Colour.RED,
    mode: Literal["fast", "slow"] = "fast",
    anything: Any = None,
) -> None:
    """Declares one parameter of each kind."""


async def open_ended(ctx: object, *, first: int, **rest: Any) -> None:
    """Takes any further keyword."""


def problems(kwargs: dict[str, Any], func: Any = typed) -> list[str]:
    with pytest.raises(InvalidArguments) as raised:
        check("a-job", func, kwargs)
    return raised.value.problems


def test_arguments_that_fit_pass() -> None:
    check(
        "a-job",
        typed,
        {
            "count": 3,
            "ratio": 2,
            "name": "x",
            "flag": True,
            "when": "2026-12-01T08:00:00+00:00",
            "tags": ["a"],
            "extra": {"k": [1, None, {"n": 1.5}]},
            "colour": "blue",
            "mode": "slow",
            "anything": {"deep": [[["ok"]]]},
        },
    )
    check("a-job", open_ended, {"first": 1, "whatever": "goes"})


def test_an_unknown_argument_is_refused_naming_what_the_job_takes() -> None:
    (problem,) = problems({"count": 1, "bogus": 1})
    assert "no argument 'bogus'" in problem
    assert "count, ratio" in problem


def test_a_missing_required_argument_is_refused() -> None:
    assert problems({}) == ["argument 'count' is required"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("count", "3", "must be an integer, not a string"),
        ("count", True, "must be an integer, not a boolean"),
        ("count", 1.5, "must be an integer, not a number"),
        ("ratio", "1", "must be a number"),
        ("flag", 1, "must be a boolean"),
        ("when", "yesterday", "ISO 8601 date-time string with its offset"),
        ("when", "2026-12-01T08:00:00", "ISO 8601 date-time string with its offset"),
        ("tags", "a", "must be an array or null"),
        ("extra", [1], "must be an object or null"),
        ("colour", "green", "one of 'red', 'blue'"),
        ("mode", "medium", "one of 'fast', 'slow'"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused(name: str, value: Any, expected: str) -> None:
    (problem,) = problems({"count": 1, name: value})
    assert problem.startswith(f"argument {name!r} ")
    assert expected in problem


@pytest.mark.parametrize(
    "value",
    ["a\x00b", ["ok", "a\x00"], {"k": {"deeper": "\x00"}}, {"bad\x00key": 1}],
)
def test_a_nul_character_anywhere_is_refused(value: Any) -> None:
    (problem,) = problems({"count": 1, "anything": value})
    assert "NUL" in problem


def test_a_nul_in_an_argument_name_and_values_json_cannot_carry_are_refused() -> None:
    assert "NUL" in problems({"count": 1, "x\x00": 1}, open_ended)[0]
    assert "nan" in problems({"count": 1, "ratio": float("nan")})[0]
    assert "not JSON" in problems({"count": 1, "anything": object()})[0]


def test_every_problem_is_told_at_once_as_invalid_input() -> None:
    with pytest.raises(InvalidInput) as raised:
        check("a-job", typed, {"bogus": 1, "name": 2})
    message = str(raised.value)
    assert message.startswith("invalid arguments for job 'a-job': ")
    assert "'bogus'" in message and "'count' is required" in message and "'name'" in message
    assert "\n" not in message


def test_deeply_nested_arguments_are_walked_without_recursion() -> None:
    value: Any = "end\x00"
    for _ in range(100_000):
        value = [value]
    assert "NUL" in problems({"count": 1, "anything": value})[0]
