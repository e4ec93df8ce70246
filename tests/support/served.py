"""The API served by uvicorn on a loopback port, in a thread with its own event loop.

For tests that need a real HTTP server (a client from 127.0.0.1 over TCP) in the test process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from catalog.api.app import create_app
from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test process keeps its own handlers
        yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def served(settings: Settings, database_url: str, timeout_s: float = 60) -> Iterator[str]:
    """The base URL of the API on `settings` and `database_url`, until the block ends."""
    port = free_port()
    box: list[_Server] = []
    failure: list[BaseException] = []

    async def main() -> None:
        async with open_runtime(settings, database_url) as rt:
            config = uvicorn.Config(
                create_app(rt),
                host="127.0.0.1",
                port=port,
                lifespan="on",
                access_log=False,
                log_config=None,
            )
            server = _Server(config)
            box.append(server)
            await server.serve()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the waiting test
            failure.append(exc)

    thread = threading.Thread(target=run, name="served-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not (box and box[0].started):
        if not thread.is_alive():
            raise AssertionError(f"the API server stopped: {failure!r}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the API server did not start within {timeout_s} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        box[0].should_exit = True
        thread.join(timeout=30)
