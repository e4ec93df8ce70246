"""Await a state instead of sleeping: the one polling helper for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def eventually(
    check: Callable[[], Any], *, timeout_s: float = 10, what: str = "condition"
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout_s} s")
        await asyncio.sleep(0.05)


def wait_until(
    check: Callable[[], Any],
    *,
    timeout_s: float = 10,
    what: str = "condition",
    every_s: float = 0.05,
) -> Any:
    """`eventually` for synchronous tests (real processes watched from the test's thread)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout_s} s")
        time.sleep(every_s)
