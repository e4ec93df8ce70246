"""Settings for tests: small pools (the machine's PostgreSQL is shared) and quick timings."""

from __future__ import annotations

from collections.abc import Callable

from catalog.settings import Settings

MakeSettings = Callable[..., Settings]

TEST_DEFAULTS: dict[str, object] = {
    "demo_data": False,
    "db_pool_size": 2,
    "db_max_overflow": 2,
    "worker_poll_s": 0.2,
    "shutdown_grace_s": 1,
    # A test that runs the background work in process asks for these when it wants them.
    "scheduler_enabled": False,
    "services_enabled": False,
}
