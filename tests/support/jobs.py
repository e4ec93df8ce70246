"""Jobs used by the engine's tests, loaded into workers with CATALOG_JOB_MODULES."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime
from typing import Any

from catalog.work.context import JobContext
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import Overlap, RetryPolicy

registry = WorkRegistry()

FAST_RETRIES = RetryPolicy(attempts=3, backoff_s=0.2, max_backoff_s=1, jitter=0.1)


class Flaky(Exception):
    pass


@registry.job("test-noop")
async def noop(ctx: JobContext) -> None:
    """Does nothing; for throughput."""


@registry.job("test-echo")
async def echo(ctx: JobContext, *, value: Any) -> Any:
    """Returns its argument."""
    return value


@registry.job("test-flaky", retry=FAST_RETRIES)
async def flaky(ctx: JobContext, *, failures: int) -> str:
    """Fails its first `failures` runs, then succeeds."""
    if ctx.attempt <= failures:
        raise Flaky(f"failing attempt {ctx.attempt}")
    return f"succeeded on attempt {ctx.attempt}"


@registry.job(
    "test-picky",
    retry=RetryPolicy(attempts=5, backoff_s=0.1, retry_on=(Flaky,)),
)
async def picky(ctx: JobContext, *, error: str) -> None:
    """Raises Flaky (retried) or ValueError (not retried)."""
    raise Flaky("again") if error == "flaky" else ValueError("bad input")


@registry.job("test-sleep")
async def sleep(ctx: JobContext, *, seconds: float, steps: int = 10) -> str:
    """Sleeps in steps, logging and reporting progress; stops when asked."""
    for step in range(steps):
        ctx.check_stop()
        await ctx.log(f"step {step + 1} of {steps}")
        await ctx.progress(step + 1, steps)
        await asyncio.sleep(seconds / steps)
    return "slept"


@registry.job("test-timeout", timeout_s=0.5)
async def too_slow(ctx: JobContext) -> None:
    """Runs past its timeout."""
    await asyncio.sleep(30)


@registry.job("test-locked", lock="test-locked")
async def locked(ctx: JobContext, *, seconds: float) -> str:
    """Holds the lock for `seconds`."""
    await asyncio.sleep(seconds)
    return "done"


@registry.job(
    "test-locked-backoff",
    lock="test-locked",
    retry=RetryPolicy(attempts=2, backoff_s=3600, max_backoff_s=3600, jitter=0),
)
async def locked_backoff(ctx: JobContext) -> str:
    """Shares test-locked's lock; fails its first run, then backs off for an hour."""
    if ctx.attempt == 1:
        raise Flaky("first run fails")
    return "done"


@registry.job("test-skip", lock="test-skip", overlap=Overlap.SKIP)
async def skipping(ctx: JobContext, *, seconds: float) -> str:
    """A second trigger while this runs is skipped."""
    await asyncio.sleep(seconds)
    return "done"


@registry.job("test-slow-first", retry=FAST_RETRIES)
async def slow_first(ctx: JobContext, *, seconds: float) -> str:
    """Long on its first attempt (to be killed mid-way), quick afterwards."""
    if ctx.attempt == 1:
        await ctx.log("first attempt: going to sleep")
        await asyncio.sleep(seconds)
    return f"finished on attempt {ctx.attempt}"


@registry.job("test-long-no-retry")
async def long_no_retry(ctx: JobContext, *, seconds: float) -> str:
    """Declared without retries; long on its first attempt (to be killed), quick afterwards."""
    if ctx.attempt == 1:
        await ctx.log("first attempt: going to sleep")
        await asyncio.sleep(seconds)
    return f"finished on attempt {ctx.attempt}"


@registry.job("test-kill-worker")
async def kill_worker(ctx: JobContext) -> None:
    """Kills its own worker process, every time; declared without retries."""
    await ctx.log("killing my worker")
    os.kill(os.getpid(), signal.SIGKILL)


@registry.job("test-kill-worker-budget-2", retry=RetryPolicy(attempts=5), crash_budget=2)
async def kill_worker_budget_2(ctx: JobContext) -> None:
    """Kills its own worker every time; a crash budget of 2, retries left unused."""
    await ctx.log("killing my worker")
    os.kill(os.getpid(), signal.SIGKILL)


@registry.job("test-scheduled")
async def scheduled(ctx: JobContext, *, scheduled_at: datetime) -> str:
    """Returns the slot it was scheduled for."""
    return scheduled_at.isoformat()


@registry.job("test-stubborn")
async def stubborn(ctx: JobContext, *, seconds: float) -> str:
    """Ignores cancellation until `seconds` have passed (a job that cannot stop at once)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            await asyncio.sleep(left)
        except asyncio.CancelledError:
            continue
    return "done"


@registry.job("test-log-context")
async def log_context(ctx: JobContext) -> dict[str, Any]:
    """Returns the context its log lines carry."""
    import structlog

    return dict(structlog.contextvars.get_contextvars())
