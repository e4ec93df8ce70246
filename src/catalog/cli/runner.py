"""Run the long-lived processes: the API server and/or the background work, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import uvicorn

from catalog import bootstrap
from catalog.api.app import create_app
from catalog.cache import invalidation
from catalog.observability import logs
from catalog.observability.logs import LogFormat
from catalog.settings import Settings
from catalog.work.resources import Resources

log = logging.getLogger(__name__)

# Called with the opened resources and the stop event; returns when the event is set and its
# work is drained. `catalog serve` and `catalog worker` pass the background-work supervisor.
WorkRunner = Callable[[Resources, asyncio.Event], Coroutine[Any, Any, None]]
Prepare = Callable[[bootstrap.Runtime], Awaitable[None]]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def configure_logging(level: str, fmt: LogFormat = "auto") -> None:
    """Structured logs: JSON when stderr is not a terminal (see catalog.observability.logs)."""
    logs.configure(level, fmt)


async def _announce(server: _Server | None, on_ready: Callable[[], None]) -> None:
    """Call `on_ready` once the HTTP server accepts connections (at once without one)."""
    # uvicorn offers no event for it; `started` flips once its sockets listen.
    while server is not None and not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    on_ready()


async def run(
    settings: Settings,
    database_url: str,
    *,
    serve_http: bool,
    work: WorkRunner | None = None,
    prepare: Prepare | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then stop taking work, drain, and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with bootstrap.runtime(settings, database_url) as rt:
            if prepare is not None:
                await prepare(rt)
            tasks: list[asyncio.Task[None]] = []
            server: _Server | None = None
            if serve_http:
                config = uvicorn.Config(
                    create_app(rt),
                    host=settings.host,
                    port=settings.port,
                    log_level=settings.log_level.lower(),
                    lifespan="on",
                    access_log=False,
                    log_config=None,  # uvicorn's records go through our structured handler
                )
                server = _Server(config)
                tasks.append(asyncio.create_task(server.serve(), name="http"))
                if not rt.cache.shared:
                    # Only this process can evict from its in-process cache: follow the log.
                    tasks.append(
                        asyncio.create_task(
                            invalidation.follow(rt.engine, rt.database_url, rt.cache, stop),
                            name="cache follower",
                        )
                    )
            if work is not None:
                tasks.append(asyncio.create_task(work(rt.resources, stop), name="work"))
            announcer = asyncio.create_task(_announce(server, on_ready or (lambda: None)))
            stopper = asyncio.create_task(stop.wait(), name="stop")
            await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            if server is not None:
                server.should_exit = True
            # Surface a crash of one part (the port was taken, say) after the rest has stopped.
            results = await asyncio.gather(*tasks, return_exceptions=True)
            stopper.cancel()
            announcer.cancel()
            for result in results:
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    raise result
            if server is not None and not server.started and serve_http:
                raise SystemExit(f"could not serve on {settings.host}:{settings.port}")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
