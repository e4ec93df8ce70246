"""A job's arguments, checked against its declared parameters when it is enqueued.

Procrastinate stores whatever it is given and calls the job with it later: an argument the job
does not take, or one it needs left out, fails only at run time, and a string with a NUL
character (which jsonb refuses) fails the enqueue with a database error. `check` refuses
such arguments up front, for every way in (API, CLI, code), with the reason.

The parameters come from the job function's signature (after its context): their names,
which ones have no default, and where annotated, the JSON type they take. An annotation this
module cannot express as a JSON type (a class of the job's own) is not checked.
"""

from __future__ import annotations

import enum
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from catalog.domain.errors import InvalidInput

NUL = "\x00"


class InvalidArguments(InvalidInput):
    """A job's arguments do not fit its declared parameters; nothing was enqueued."""

    def __init__(self, task: str, problems: list[str]) -> None:
        super().__init__(f"invalid arguments for job {task!r}: " + "; ".join(problems))
        self.task = task
        self.problems = problems


@dataclass(frozen=True)
class Parameters:
    """What a job function takes after its context."""

    names: tuple[str, ...]
    required: tuple[str, ...]
    annotations: Mapping[str, Any]  # only the checkable ones
    open: bool  # takes **kwargs: any further name is accepted


@functools.cache
def parameters_of(func: Callable[..., Any]) -> Parameters:
    """The parameters `func` declares after its first (the job's context)."""
    listed = list(inspect.signature(func).parameters.values())[1:]
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError):  # an annotation only a type checker can resolve
        hints = {}
    named = [
        p for p in listed if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
    ]
    return Parameters(
        names=tuple(p.name for p in named),
        required=tuple(p.name for p in named if p.default is p.empty),
        annotations={p.name: hints[p.name] for p in named if p.name in hints},
        open=any(p.kind is p.VAR_KEYWORD for p in listed),
    )


def check(task: str, func: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Raise `InvalidArguments` unless `func` (job `task`) can be called with `kwargs`."""
    params = parameters_of(func)
    problems: list[str] = []
    for name in kwargs:
        if not isinstance(name, str):
            problems.append(f"argument names are strings, not {name!r}")
        elif NUL in name:
            problems.append(f"argument name {name!r} contains a NUL character")
        elif name not in params.names and not params.open:
            takes = ", ".join(params.names) or "none"
            problems.append(f"it takes no argument {name!r} (it takes: {takes})")
    problems += [f"argument {name!r} is required" for name in params.required if name not in kwargs]
    for name, value in kwargs.items():
        if not isinstance(name, str) or NUL in name:
            continue
        problem = _json_problem(value)
        if problem is None and name in params.annotations:
            problem = _type_problem(value, params.annotations[name])
        if problem is not None:
            problems.append(f"argument {name!r} {problem}")
    if problems:
        raise InvalidArguments(task, problems)


def _json_problem(value: Any) -> str | None:
    """Why `value` cannot be stored as JSON in PostgreSQL, or None; iterative, for any depth."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"is {item}, which JSON cannot carry"
        elif isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    return f"has a key {key!r} that is not a string"
                if NUL in key:
                    return "has a key containing a NUL character (\\u0000)"
            pending.extend(item.values())
        elif item is not None and not isinstance(item, bool | int):
            return f"is a {type(item).__name__}, which is not JSON"
    return None


_JSON_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _type_problem(value: Any, annotation: Any) -> str | None:
    """Why `value` does not fit `annotation` as JSON, or None (also when it cannot tell)."""
    expected = _expected(annotation)
    if expected is None or any(_fits(value, kind) for kind in expected):
        return None
    wanted = " or ".join(dict.fromkeys(_describe(kind) for kind in expected))
    return f"must be {wanted}, not {_JSON_NAMES.get(type(value), type(value).__name__)}"


def _expected(annotation: Any) -> list[Any] | None:
    """The JSON kinds an annotation accepts, or None when anything goes (or it cannot tell)."""
    if annotation in (Any, object):
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds: list[Any] = []
        for member in typing.get_args(annotation):
            member_kinds = _expected(member)
            if member_kinds is None:
                return None
            kinds += member_kinds
        return kinds
    if origin is typing.Literal:
        return [("literal", typing.get_args(annotation))]
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        return [list]
    if origin in (dict, Mapping) or annotation is dict:
        return [dict]
    if annotation is type(None) or annotation is None:
        return [type(None)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [("literal", tuple(member.value for member in annotation))]
    if annotation in (bool, int, float, str, datetime, date):
        return [annotation]
    return None


def _fits(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):  # ("literal", allowed values)
        return any(value == allowed and type(value) is type(allowed) for allowed in kind[1])
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in (datetime, date):
        return isinstance(value, str) and _parses(kind, value)
    if kind is list:
        return isinstance(value, list | tuple)
    if kind is type(None):
        return value is None
    return isinstance(value, kind)


def _parses(kind: type[date], value: str) -> bool:
    try:
        parsed = kind.fromisoformat(value)
    except ValueError:
        return False
    # A time without its zone is ambiguous: the job could not tell which instant was meant.
    return not isinstance(parsed, datetime) or parsed.utcoffset() is not None


def _describe(kind: Any) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(repr(v) for v in kind[1])
    if kind is datetime:
        return "an ISO 8601 date-time string with its offset"
    if kind is date:
        return "an ISO 8601 date string"
    return _JSON_NAMES.get(kind, getattr(kind, "__name__", str(kind)))
