"""One run of a job: timeout, cancellation, shutdown, and the journal entry it leaves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from procrastinate import JobContext as ProcrastinateContext
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason

from catalog.work import journal
from catalog.work.context import JobCancelled, JobContext
from catalog.work.declarations import JobDefinition
from catalog.work.journal import Outcome, RunRecord
from catalog.work.policy import JobTimeout, WorkerShutdown

Runner = Callable[..., Awaitable[Any]]

log = logging.getLogger(__name__)


def runner_for(definition: JobDefinition) -> Runner:
    """The coroutine Procrastinate calls for `definition` (registered with pass_context)."""

    async def run(pctx: ProcrastinateContext, **kwargs: Any) -> Any:
        job = pctx.job
        # Each run is its own asyncio task: what it binds stays with its own log lines.
        with structlog.contextvars.bound_contextvars(
            job_id=job.id, task=definition.name, attempt=job.attempts + 1
        ):
            return await _run(definition, pctx, kwargs)

    run.__name__ = run.__qualname__ = f"run_{definition.name.replace('-', '_')}"
    return run


async def _run(
    definition: JobDefinition, pctx: ProcrastinateContext, kwargs: dict[str, Any]
) -> Any:
    job = pctx.job
    assert job.id is not None
    scheduled_at = kwargs.get("scheduled_at")
    if isinstance(scheduled_at, str):
        scheduled_at = datetime.fromisoformat(scheduled_at)
        kwargs = {**kwargs, "scheduled_at": scheduled_at}
    ctx = JobContext(
        job_id=job.id,
        task=definition.name,
        attempt=job.attempts + 1,
        worker=pctx.worker_name or "worker",
        resources=pctx.additional_context["resources"],
        scheduled_at=scheduled_at if isinstance(scheduled_at, datetime) else None,
        _procrastinate=pctx,
        _stopping=pctx.additional_context.get("stopping"),
    )
    started_at = datetime.fromtimestamp(pctx.start_timestamp, UTC)

    def record(
        outcome: Outcome, *, result: Any = None, error: BaseException | None = None
    ) -> RunRecord:
        finished_at = datetime.now(UTC)
        if error is None:
            return RunRecord(
                job_id=ctx.job_id,
                attempt=ctx.attempt,
                worker=ctx.worker,
                started_at=started_at,
                finished_at=finished_at,
                outcome=outcome,
                result=journal.summarise(result),
            )
        return RunRecord.failure(
            error,
            job_id=ctx.job_id,
            attempt=ctx.attempt,
            worker=ctx.worker,
            started_at=started_at,
            finished_at=finished_at,
            outcome=outcome,
        )

    timeout_s = definition.policy.timeout_s
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            result = await definition.func(ctx, **kwargs)
    except TimeoutError as exc:
        counted = await _counted_runs(ctx)
        if not deadline.expired():
            _journal(ctx, record(_failure_outcome(definition, exc, counted), error=exc))
            raise
        timeout = JobTimeout(f"{definition.name} ran past its timeout of {timeout_s:g} s")
        _journal(ctx, record(Outcome.TIMEOUT, error=timeout))
        raise timeout from None
    except asyncio.CancelledError as exc:
        reason = pctx.abort_reason()
        if reason is AbortReason.SHUTDOWN:
            interrupted = WorkerShutdown(f"worker {ctx.worker} shut down during the run")
            _journal(ctx, record(Outcome.INTERRUPTED, error=interrupted))
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            # Not a CancelledError any more: Procrastinate then asks the retry policy, which
            # requeues a WorkerShutdown at once.
            raise interrupted from None
        _journal(ctx, record(Outcome.CANCELLED, error=exc))
        raise
    except JobCancelled as exc:
        _journal(ctx, record(Outcome.CANCELLED, error=exc))
        # JobAborted: Procrastinate ends the job as aborted (our "cancelled"), never retried.
        raise JobAborted(str(exc)) from None
    except WorkerShutdown as exc:
        _journal(ctx, record(Outcome.INTERRUPTED, error=exc))
        raise
    except Exception as exc:
        counted = await _counted_runs(ctx)
        _journal(ctx, record(_failure_outcome(definition, exc, counted), error=exc))
        raise
    _journal(ctx, record(Outcome.SUCCEEDED, result=result))
    return result


def _failure_outcome(definition: JobDefinition, error: BaseException, counted_runs: int) -> Outcome:
    if definition.policy.retry.retries_after(error, runs_so_far=counted_runs):
        return Outcome.RETRYING
    return Outcome.FAILED


async def _counted_runs(ctx: JobContext) -> int:
    """The runs so far, this one included, that count against the retry policy.

    Runs its workers lost (crashed, interrupted) do not; the count is also left for the task's
    retry strategy, which Procrastinate asks next. Only a failed rerun pays for the query.
    """
    lost = 0
    if ctx.attempt > 1:
        try:
            async with ctx.resources.work.pool.connection() as conn:
                lost = await journal.lost_runs(conn, ctx.job_id)
        except psycopg.Error:
            # Storing the failure needs the database too; count every run meanwhile.
            log.warning("job %s: could not read its journal; counting every run", ctx.job_id)
    ctx.resources.work.lost_runs[ctx.job_id] = lost
    return ctx.attempt - lost


def _journal(ctx: JobContext, run: RunRecord) -> None:
    # Written by the worker together with the job's new status (JournalingJobManager).
    ctx.resources.work.journal.pending[run.job_id] = run
