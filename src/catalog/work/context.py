"""What a running job is handed: who it is, its resources, and a way to log and report progress."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg_pool
from procrastinate import JobContext as ProcrastinateContext
from procrastinate.job_context import AbortReason

from catalog.work import journal
from catalog.work.policy import WorkerShutdown

if TYPE_CHECKING:
    from catalog.work.resources import Resources

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_S = 1.0  # progress is stored at most this often, and always when done


class JobCancelled(Exception):
    """Raised by `JobContext.check_stop` when an operator cancelled the job."""


@dataclass
class JobContext:
    """The running job's view of itself. Jobs take it as their first argument."""

    job_id: int
    task: str
    attempt: int  # 1 for the first run
    worker: str
    resources: Resources  # what the job may use: settings, database, the job engine
    scheduled_at: datetime | None
    _procrastinate: ProcrastinateContext = field(repr=False)
    # Set when the worker begins to shut down.
    _stopping: asyncio.Event | None = field(default=None, repr=False)
    _progress_written_at: float = field(default=0.0, repr=False)

    def should_stop(self) -> bool:
        """True once an operator cancelled the job or its worker began shutting down."""
        shutting_down = self._stopping is not None and self._stopping.is_set()
        return shutting_down or bool(self._procrastinate.should_abort())

    def check_stop(self) -> None:
        """Stop at a safe point if asked: call it between units of work.

        Raises `JobCancelled` (the job ends cancelled) when an operator cancelled it, and
        `WorkerShutdown` (the job is requeued at once) when its worker is shutting down.
        """
        if self._procrastinate.abort_reason() is AbortReason.USER_REQUEST:
            raise JobCancelled(f"job {self.job_id} was cancelled")
        if self.should_stop():
            raise WorkerShutdown(f"worker {self.worker} is shutting down")

    async def log(self, message: str, *, level: str = "info") -> None:
        """Store a log line with this run; readable from the API while the job runs."""
        log.log(logging.getLevelName(level.upper()), "[job %s] %s", self.job_id, message)
        async with self._pool().connection() as conn:
            await journal.write_log(
                conn, job_id=self.job_id, attempt=self.attempt, level=level, message=message
            )

    async def progress(self, done: int, total: int | None = None) -> None:
        """Report progress; stored at most once a second, and always when `done == total`."""
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._progress_written_at < PROGRESS_MIN_INTERVAL_S:
            return
        self._progress_written_at = now
        async with self._pool().connection() as conn:
            await journal.write_progress(
                conn, job_id=self.job_id, attempt=self.attempt, done=done, total=total
            )

    def _pool(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        return self.resources.work.pool
