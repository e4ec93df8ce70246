"""`catalog serve` as a new user runs it: embedded defaults, demo data, Ctrl-C, kill -9."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.processes import CatalogProcess, catalog_env

pytestmark = pytest.mark.slow

DEMO_PRODUCTS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(base: str, process: CatalogProcess, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.alive(), process.log()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"not healthy after {timeout_s} s:\n{process.log()}")


def embedded_server_pids(data_dir: Path) -> set[int]:
    return {
        proc.pid
        for proc in psutil.process_iter(["name", "cmdline"])
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or [])
    }


def serve(data_dir: Path, port: int, log: Path) -> CatalogProcess:
    env = {k: v for k, v in catalog_env("unused").items() if k != "CATALOG_DATABASE_URL"}
    env |= {
        "CATALOG_DATA_DIR": str(data_dir),
        "CATALOG_PORT": str(port),
        "CATALOG_DEMO_PRODUCTS": str(DEMO_PRODUCTS),
    }
    return CatalogProcess(["serve"], env, log)


def test_serve_on_embedded_defaults_survives_kill_9_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    first = serve(data_dir, port, tmp_path / "first.log")
    try:
        wait_healthy(base, first)
        first.wait_for_log("API docs:", timeout_s=10)
        products = httpx.get(f"{base}/api/products", params={"limit": 5}).json()
        assert len(products["items"]) == 5 and products["next_cursor"]
        assert httpx.get(f"{base}/docs").status_code == 200
        recurring = httpx.get(f"{base}/api/backgroundjobs/recurring-jobs").json()
        assert any(job["id"] == "job-retention" for job in recurring)
        assert embedded_server_pids(data_dir)
    finally:
        first.signal(signal.SIGKILL)
        first.wait(timeout_s=10)

    # The killed run left its PostgreSQL behind; the next start adopts it, no clean-up needed.
    second = serve(data_dir, port, tmp_path / "second.log")
    try:
        wait_healthy(base, second)
        listed = httpx.get(f"{base}/api/products", params={"limit": 200}).json()
        cursor, total = listed["next_cursor"], len(listed["items"])
        while cursor:
            page = httpx.get(f"{base}/api/products", params={"limit": 200, "cursor": cursor}).json()
            total += len(page["items"])
            cursor = page["next_cursor"]
        assert total == DEMO_PRODUCTS  # the demo catalogue was not loaded twice
    finally:
        second.signal(signal.SIGINT)
        assert second.wait(timeout_s=60) == 0, second.log()

    deadline = time.monotonic() + 30
    while embedded_server_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not embedded_server_pids(data_dir), "Ctrl-C left the embedded PostgreSQL running"


def test_bad_configuration_is_refused_before_anything_starts(tmp_path: Path) -> None:
    env = catalog_env("postgresql://nobody@127.0.0.1:1/none")
    env["CATALOG_SCHEDULES"] = '{"job-retention": {"cron": "61 * * * *"}}'
    process = CatalogProcess(["worker"], env, tmp_path / "worker.log")
    assert process.wait(timeout_s=60) == 2
    assert "configuration error" in process.log()
    assert "61 is out of range" in process.log()
