"""What a job declares about itself: queue, retries, crash budget, lock, timeout, priority.

A retry policy counts runs, not retries: `RetryPolicy(attempts=3)` is one run and two retries.
Runs lost through no fault of the job (its worker died, or shut down) spend no attempt: a
crash spends the job's crash budget instead, and a shutdown nothing at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job as ProcrastinateJob


class Queue(StrEnum):
    DEFAULT = "default"
    SEARCH = "search"
    CACHE = "cache"
    REPORTS = "reports"
    MAINTENANCE = "maintenance"


class Overlap(StrEnum):
    """What a new run of a locked job does while another run holds the lock."""

    WAIT = "wait"  # queue behind the running one
    SKIP = "skip"  # not enqueued at all; the caller is told which job it defers to


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `attempts` runs, waiting `backoff_s * 2**(n-1)` (capped, with jitter) between them."""

    attempts: int = 1
    backoff_s: float = 2.0
    max_backoff_s: float = 600.0
    jitter: float = 0.25  # +/- this fraction of the delay, so retries of a batch spread out
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a job runs at least once: attempts >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    def delay_s(self, failed_runs: int, *, rng: random.Random | None = None) -> float:
        """The wait after the `failed_runs`-th failed run (1-based)."""
        base = min(self.max_backoff_s, self.backoff_s * 2 ** max(failed_runs - 1, 0))
        spread = base * self.jitter
        jittered: float = base + (rng or random).uniform(-spread, spread)
        return max(0.0, jittered)

    def retries_after(self, error: BaseException, *, runs_so_far: int) -> bool:
        """Whether a run that raised `error` gets another attempt, after `runs_so_far` runs."""
        return runs_so_far < self.attempts and isinstance(error, self.retry_on)


TWO_RETRIES = RetryPolicy(attempts=3)

# A job whose worker dies under it is rerun at once, whatever its retry policy, until this
# many crashes: the last one ends it failed (a job that kills its worker every time).
DEFAULT_CRASH_BUDGET = 3


@dataclass(frozen=True)
class JobPolicy:
    """The whole operating policy of one job, stated where the job is defined."""

    queue: str = Queue.DEFAULT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lock: str | None = None
    overlap: Overlap = Overlap.WAIT
    timeout_s: float | None = None
    priority: int = 0
    crash_budget: int = DEFAULT_CRASH_BUDGET  # crashes of its worker; the last one fails it

    def __post_init__(self) -> None:
        if self.crash_budget < 1:
            raise ValueError("crash_budget counts crashes, the last of which fails the job: >= 1")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.overlap is Overlap.SKIP and self.lock is None:
            raise ValueError("overlap=SKIP needs a lock to know what overlaps")

    def as_dict(self) -> dict[str, Any]:
        """The policy as plain data, for the management API."""
        return {
            "queue": str(self.queue),
            "attempts": self.retry.attempts,
            "backoff_s": self.retry.backoff_s,
            "crash_budget": self.crash_budget,
            "lock": self.lock,
            "overlap": str(self.overlap),
            "timeout_s": self.timeout_s,
            "priority": self.priority,
        }


class WorkerShutdown(Exception):
    """A run interrupted because its worker is stopping; always requeued at once."""


class JobTimeout(Exception):
    """A run went past its `timeout_s` and was cancelled."""


class PolicyRetryStrategy(BaseRetryStrategy):
    """Procrastinate's hook, answering from a `RetryPolicy`.

    Procrastinate's `attempts` counts every run; `lost_runs` (job id -> runs that crashed or
    were interrupted, left by the runner of a failed run just before it asks) takes those out.
    """

    def __init__(self, policy: RetryPolicy, lost_runs: dict[int, int] | None = None) -> None:
        self.policy = policy
        self.lost_runs = lost_runs if lost_runs is not None else {}

    def get_retry_decision(
        self, *, exception: BaseException, job: ProcrastinateJob
    ) -> RetryDecision | None:
        lost = self.lost_runs.pop(job.id, 0) if job.id is not None else 0
        if isinstance(exception, WorkerShutdown):
            return RetryDecision(retry_at=datetime.now(UTC))
        runs = job.attempts + 1 - lost
        if not self.policy.retries_after(exception, runs_so_far=runs):
            return None
        delay = timedelta(seconds=self.policy.delay_s(runs))
        return RetryDecision(retry_at=datetime.now(UTC) + delay)
