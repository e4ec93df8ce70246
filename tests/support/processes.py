"""Real `catalog` processes for fault tests: start, signal, wait, read their log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


class CatalogProcess:
    """A `catalog <command>` child process with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "catalog", *args],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(timeout_s=10)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is not None:
                self._log.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if not self.alive():
                raise AssertionError(f"process exited ({self.proc.returncode}):\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen in {timeout_s} s:\n{self.log()}")


def data_dir_of(database_url: str) -> Path:
    """A data directory of the test's own, shared by the processes on its database (as on one
    host): never the checkout's `.catalog`, where a later `catalog serve` would find the test's
    search index."""
    database = urlsplit(database_url).path.strip("/") or "catalog"
    return Path(tempfile.gettempdir()) / "catalog-test-data" / database


def catalog_env(database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a child process using `database_url` and CATALOG_* `settings`
    (`data_dir` defaults to `data_dir_of(database_url)`)."""
    settings.setdefault("data_dir", str(data_dir_of(database_url)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env["CATALOG_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in settings.items():
        name = f"CATALOG_{key.upper()}"
        env[name] = value if isinstance(value, str) else json.dumps(value)
    return env


def start_worker(
    database_url: str, tmp_path: Path, *, name: str, concurrency: int = 5, **settings: object
) -> CatalogProcess:
    """`catalog worker` on `database_url`, loading the test jobs, with fast fault timings."""
    defaults: dict[str, object] = {
        "job_modules": ["tests.support.jobs:registry"],
        "worker_heartbeat_s": 1,
        "worker_stalled_after_s": 4,
        "recovery_interval_s": 1,
        "worker_poll_s": 0.5,
        "shutdown_grace_s": 5,
        "db_pool_size": 2,
    }
    env = catalog_env(database_url, **{**defaults, **settings})
    return CatalogProcess(
        ["worker", "--concurrency", str(concurrency)], env, tmp_path / f"{name}.log"
    )
