"""The `catalog` command: serve, api, worker, migrate, seed, reindex, jobs, keys."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvloop
from pydantic import ValidationError

from catalog import bootstrap
from catalog.cli import jobs, keys, runner
from catalog.domain.errors import DomainError
from catalog.search import rebuild as rebuilding
from catalog.settings import Settings
from catalog.store import migrate as migrations
from catalog.store import seed as seeding
from catalog.work.resources import Resources
from catalog.work.supervisor import run_background_work

T = TypeVar("T")

app = typer.Typer(help="Product Catalog Service.", no_args_is_help=True, add_completion=False)
app.add_typer(jobs.app, name="jobs")
app.add_typer(keys.app, name="keys")

HostOption = Annotated[str | None, typer.Option(help="Interface to listen on [CATALOG_HOST].")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on [CATALOG_PORT].")]
DataDirOption = Annotated[
    Path | None,
    typer.Option(help="Where the embedded defaults keep their data [CATALOG_DATA_DIR]."),
]


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command line's explicit values on top.

    Bad configuration stops the command here, with a clear message and exit status 2, before
    any server starts.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = Settings(**given)
        bootstrap.check_configuration(settings)
    except ValidationError as error:
        problems = "; ".join(
            f"CATALOG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        typer.echo(f"configuration error: {problems}", err=True)
        raise typer.Exit(2) from None
    except (DomainError, ImportError, TypeError, ValueError) as error:
        typer.echo(f"configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    return settings


def _banner(settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(f"catalog is serving on {base}")
    typer.echo(f"  Dashboard:  {base}/dashboard")
    typer.echo(f"  API docs:   {base}/docs")
    typer.echo("  Stop with Ctrl-C.")


@app.command()
def serve(host: HostOption = None, port: PortOption = None, data_dir: DataDirOption = None) -> None:
    """Everything in one process: API, job worker, scheduler and background services."""
    settings = _settings(host=host, port=port, data_dir=data_dir)
    runner.configure_logging(settings.log_level, settings.log_format)
    with bootstrap.database(settings) as url:
        migrations.upgrade(url)
        _run_async(
            runner.run(
                settings,
                url,
                serve_http=True,
                work=run_background_work,
                prepare=bootstrap.prepare_demo if settings.demo_data else None,
                on_ready=lambda: _banner(settings),
            )
        )


@app.command()
def api(host: HostOption = None, port: PortOption = None) -> None:
    """The API only, to run several behind a load balancer."""
    settings = _settings(host=host, port=port)
    if settings.database_url is None:
        raise typer.BadParameter("`catalog api` needs CATALOG_DATABASE_URL", param_hint="env")
    runner.configure_logging(settings.log_level, settings.log_format)
    url = bootstrap.configured_database_url(settings)
    _run_async(runner.run(settings, url, serve_http=True, on_ready=lambda: _banner(settings)))


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs run at once [CATALOG_WORKER_CONCURRENCY, default 5]."),
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option(help="Comma-separated queues to take jobs from [default: all]."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Job workers, the scheduler and the background services (no HTTP)."""
    settings = _settings(data_dir=data_dir)
    runner.configure_logging(settings.log_level, settings.log_format)
    wanted = [q.strip() for q in queues.split(",") if q.strip()] if queues else None

    async def work(resources: Resources, stop: asyncio.Event) -> None:
        await run_background_work(resources, stop, concurrency=concurrency, queues=wanted)

    with bootstrap.database(settings) as url:
        migrations.upgrade(url)
        _run_async(runner.run(settings, url, serve_http=False, work=work))


@app.command()
def migrate(data_dir: DataDirOption = None) -> None:
    """Apply the database migrations."""
    settings = _settings(data_dir=data_dir)
    runner.configure_logging(settings.log_level, settings.log_format)
    with bootstrap.database(settings) as url:
        migrations.upgrade(url)
    typer.echo("database is up to date")


@app.command()
def seed(
    products: Annotated[int, typer.Option(min=0, help="How many products to add.")],
    categories: Annotated[
        int, typer.Option(min=1, help="About how many categories, in two levels.")
    ] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same products.")] = 0,
    data_dir: DataDirOption = None,
) -> None:
    """Add a synthetic catalogue: realistic products loaded with COPY (appends if not empty)."""
    settings = _settings(data_dir=data_dir)
    runner.configure_logging(settings.log_level, settings.log_format)
    with bootstrap.database(settings) as url:
        migrations.upgrade(url)
        report = _run_async(
            seeding.seed_products(url, products=products, categories=categories, seed=seed)
        )
    typer.echo(
        f"seeded {report.products:,} products in {report.categories} categories"
        f" in {report.seconds:.1f} s ({report.rows_per_s:,.0f} rows/s, SKUs {report.sku_prefix}-*)"
    )


@app.command()
def reindex(
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Products read and written at a time.")
    ] = rebuilding.BUILD_BATCH,
    data_dir: DataDirOption = None,
) -> None:
    """Rebuild the search index from PostgreSQL and swap it in (searches answer throughout)."""
    settings = _settings(data_dir=data_dir)
    runner.configure_logging("WARNING", settings.log_format)

    async def progress(done: int, total: int) -> None:
        share = f" ({100 * done // total}%)" if total else ""
        typer.echo(f"indexed {done:,} of {total:,} products{share}")

    async def main(url: str) -> rebuilding.RebuildReport:
        async with bootstrap.runtime(settings, url) as rt:
            return await rebuilding.rebuild(
                rt.engine, rt.search, batch_size=batch_size, progress=progress
            )

    with bootstrap.database(settings) as url:
        migrations.upgrade(url)
        report = _run_async(main(url))
    typer.echo(
        f"search index generation {report.generation} is live with {report.documents:,}"
        f" documents (replaced {report.replaced or 'nothing'});"
        " search-sync applies the changes made meanwhile"
    )


def _run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop, the faster event loop (HTTP parsing by httptools comes with it)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner_:
        return runner_.run(main)


def main() -> None:
    app()
