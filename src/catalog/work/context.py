"""What a running job is handed: who it is, its runtime, and a way to log and report progress."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg_pool
from procrastinate import JobContext as ProcrastinateContext

from catalog.work import journal

if TYPE_CHECKING:
    from catalog.bootstrap import Runtime

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_S = 1.0  # progress is stored at most this often, and always when done


class JobCancelled(Exception):
    """Raised by `JobContext.check_stop` when the job was asked to stop."""


@dataclass
class JobContext:
    """The running job's view of itself. Jobs take it as their first argument."""

    job_id: int
    task: str
    attempt: int  # 1 for the first run
    worker: str
    runtime: Runtime
    scheduled_at: datetime | None
    _procrastinate: ProcrastinateContext = field(repr=False)
    _progress_written_at: float = field(default=0.0, repr=False)

    def should_stop(self) -> bool:
        """True once an operator cancelled the job or its worker is shutting down."""
        return bool(self._procrastinate.should_abort())

    def check_stop(self) -> None:
        """Raise `JobCancelled` if the job should stop; call it between units of work."""
        if self.should_stop():
            raise JobCancelled(f"job {self.job_id} was asked to stop")

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
        return self.runtime.work.pool
