"""`catalog jobs ...`: the management API's job operations, from the shell."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer

from catalog import bootstrap
from catalog.cli import runner
from catalog.domain.errors import DomainError, InvalidInput
from catalog.settings import Settings
from catalog.store import migrate as migrations
from catalog.work import control, monitor
from catalog.work.monitor import JobState

app = typer.Typer(help="Inspect and operate background jobs.", no_args_is_help=True)

T = TypeVar("T")


def _run(action: Callable[[bootstrap.Runtime], Awaitable[T]]) -> T:
    settings = Settings()
    runner.configure_logging("WARNING")  # the answer, not the start-up chatter
    with bootstrap.database(settings) as url:
        migrations.upgrade(url)

        async def main() -> T:
            async with bootstrap.runtime(settings, url) as rt:
                return await action(rt)

        try:
            return asyncio.run(main())
        except InvalidInput as error:
            # Bad input is a usage error, as for a bad option: exit code 2.
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(2) from None
        except DomainError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(1) from None


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _row(job: monitor.Job) -> str:
    when = job.finished_at or job.started_at or job.scheduled_at or job.created_at
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else "-"
    error = f"  {job.error}" if job.error else ""
    return f"{job.id:>8}  {job.state:<10}  {job.task:<28}  {job.queue:<11}  {stamp}{error}"


@app.command("list")
def list_jobs(
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The newest jobs, one line each."""

    async def action(rt: bootstrap.Runtime) -> monitor.JobPage:
        async with rt.work.pool.connection() as conn:
            return await monitor.list_jobs(conn, state=state, task=task, limit=limit)

    for job in _run(action).items:
        typer.echo(_row(job))


@app.command()
def show(job_id: int) -> None:
    """A job with its journal, logs and progress, as JSON."""

    async def action(rt: bootstrap.Runtime) -> monitor.JobDetail:
        async with rt.work.pool.connection() as conn:
            return await monitor.get_job_detail(conn, job_id)

    _echo_json(asdict(_run(action)))


@app.command()
def enqueue(
    task: str,
    args: Annotated[str, typer.Option(help="Keyword arguments as a JSON object.")] = "{}",
    delay_s: Annotated[float | None, typer.Option(min=0, help="Run after this delay.")] = None,
) -> None:
    """Enqueue a job now or after a delay."""
    try:
        kwargs = json.loads(args)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not JSON: {error}", param_hint="--args") from None
    if not isinstance(kwargs, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--args")
    run_at = datetime.now(UTC) + timedelta(seconds=delay_s) if delay_s is not None else None

    async def action(rt: bootstrap.Runtime) -> Any:
        return await rt.work.enqueue(task, kwargs=kwargs, schedule_at=run_at)

    result = _run(action)
    typer.echo(f"job {result.job_id}" + (" (already queued: skipped)" if result.skipped else ""))


def _operate(operation: Callable[[Any, int], Awaitable[monitor.Job]], job_id: int) -> None:
    async def action(rt: bootstrap.Runtime) -> monitor.Job:
        async with rt.work.pool.connection() as conn, conn.transaction():
            return await operation(conn, job_id)

    typer.echo(_row(_run(action)))


@app.command()
def retry(job_id: int) -> None:
    """Run a finished job again."""
    _operate(control.retry, job_id)


@app.command()
def cancel(job_id: int) -> None:
    """Cancel a waiting job or ask a running one to stop."""
    _operate(control.cancel, job_id)


@app.command()
def delete(job_id: int) -> None:
    """Mark a job deleted (stopping it first if needed)."""
    _operate(control.delete, job_id)


@app.command()
def workers() -> None:
    """Live workers and their heartbeats."""

    async def action(rt: bootstrap.Runtime) -> list[monitor.Worker]:
        async with rt.work.pool.connection() as conn:
            return await monitor.list_workers(conn)

    for w in _run(action):
        typer.echo(
            f"{w.name:<32} concurrency {w.concurrency:<3} running {w.running_jobs:<3}"
            f" heartbeat {w.heartbeat_age_s:.0f} s ago"
        )


@app.command()
def stats() -> None:
    """Jobs per state, and jobs finished in the last hour."""

    async def action(rt: bootstrap.Runtime) -> monitor.Stats:
        async with rt.work.pool.connection() as conn:
            return await monitor.stats(conn)

    result = _run(action)
    for state, count in result.counts.items():
        typer.echo(f"{state:<11} {count}")
    done = sum(m.succeeded for m in result.throughput)
    failed = sum(m.failed for m in result.throughput)
    typer.echo(f"last hour: {done} succeeded, {failed} failed; {result.workers} workers")
