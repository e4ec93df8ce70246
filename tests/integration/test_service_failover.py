"""Background services across real `catalog worker` processes: one leader, failover, handover."""

from __future__ import annotations

import itertools
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from catalog.settings import Settings
from tests.support.polling import wait_until
from tests.support.processes import CatalogProcess, start_worker
from tests.support.services import Step, create_tables, steps

pytestmark = pytest.mark.slow

SERVICE = "test-recorder"
API = "/api/backgroundjobs/background-services"
TAKEOVER_PROMISE_S = 15


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The in-process API's settings: it declares the recorder but runs no services itself."""
    return Settings(
        data_dir=tmp_path,
        demo_data=False,
        db_pool_size=2,
        worker_concurrency=1,
        job_modules=["tests.support.services:failover_registry"],
        services_enabled=False,
    )


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[list[CatalogProcess]]:
    """Start workers with `start(name, **settings)`; any still alive are killed at the end."""
    create_tables(database_url)
    started: list[CatalogProcess] = []
    yield started
    for process in started:
        process.kill()


def start(
    workers: list[CatalogProcess], database_url: str, tmp_path: Path, name: str, **settings: Any
) -> CatalogProcess:
    process = start_worker(
        url_for_settings(database_url),
        tmp_path,
        name=name,
        concurrency=1,
        job_modules=["tests.support.services:failover_registry"],
        **settings,
    )
    workers.append(process)
    return process


def url_for_settings(url: str) -> str:
    """`url` in a form `Settings` accepts (it wants a host; a Unix-socket URL has none).

    The embedded server is reached through a socket: name localhost as the host, and libpq
    still connects through the socket its `host` parameter names.
    """
    parts = urlsplit(url)
    if parts.hostname:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}localhost"))


def status(database_url: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute("SELECT * FROM work_services WHERE name = %s", (SERVICE,)).fetchone()


def leader_process(database_url: str, workers: list[CatalogProcess]) -> CatalogProcess:
    """The worker leading the recorder, once it has run a few steps."""

    def leading() -> CatalogProcess | None:
        row = status(database_url)
        if row is None or row["leader"] is None or row["runs"] < 3:
            return None
        pid = int(row["leader"].rpartition(":")[2])
        return next(p for p in workers if p.pid == pid)

    try:
        leader: CatalogProcess = wait_until(leading, timeout_s=30, what="a leader with 3 runs")
    except AssertionError as exc:
        logs = "\n".join(f"--- {p.log_path.name}\n{p.log_path.read_text()}" for p in workers)
        raise AssertionError(f"{exc}; status {status(database_url)}\n{logs}") from None
    return leader


def first_step_of_another(database_url: str, *, than: str) -> Step | None:
    """The first recorded step of an instance other than `than`, if any yet."""
    return next((s for s in steps(database_url, SERVICE) if s.instance != than), None)


def assert_one_instance_at_a_time(recorded: list[Step]) -> None:
    """Steps of different instances never overlap, and each instance leads in one stretch."""
    for a, b in itertools.pairwise(recorded):
        if a.instance != b.instance:
            assert a.finished_at is None or a.finished_at <= b.started_at, (a, b)
    stretches = [instance for instance, _ in itertools.groupby(s.instance for s in recorded)]
    assert len(stretches) == len(set(stretches)), stretches


def instance_of(process: CatalogProcess) -> str:
    return f"{socket.gethostname()}:{process.pid}"


def test_one_leader_at_a_time_and_a_takeover_within_15_s_after_sigkill(
    database_url: str, tmp_path: Path, workers: list[CatalogProcess]
) -> None:
    for name in ("w1", "w2", "w3"):
        start(workers, database_url, tmp_path, name)
    leader = leader_process(database_url, workers)
    killed = instance_of(leader)
    time.sleep(1.5)  # the standbys have tried, and failed, to take over meanwhile

    leader.signal(signal.SIGKILL)
    leader.wait(timeout_s=10)
    killed_at = time.monotonic()
    successor_step = wait_until(
        lambda: first_step_of_another(database_url, than=killed),
        timeout_s=TAKEOVER_PROMISE_S + 5,
        what="a takeover",
    )
    takeover_s = time.monotonic() - killed_at
    successor = successor_step.instance
    wait_until(
        lambda: sum(s.instance == successor for s in steps(database_url, SERVICE)) >= 3,
        timeout_s=10,
        what="3 steps of the successor",
    )

    print(f"takeover after SIGKILL: {takeover_s:.2f} s")
    assert takeover_s < TAKEOVER_PROMISE_S, takeover_s
    recorded = steps(database_url, SERVICE)
    assert {s.instance for s in recorded} == {killed, successor}
    assert_one_instance_at_a_time(recorded)
    row = status(database_url)
    assert row is not None
    assert row["leader"] == successor
    assert all(p.alive() for p in workers if p is not leader)


def test_a_sigterm_hands_the_lead_over_at_once_and_the_worker_exits_0(
    database_url: str, tmp_path: Path, workers: list[CatalogProcess]
) -> None:
    # Standbys retry only every 60 s: a prompt takeover can only come from the release NOTIFY.
    first = start(workers, database_url, tmp_path, "w1", service_takeover_s=60)
    assert leader_process(database_url, workers) is first
    second = start(workers, database_url, tmp_path, "w2", service_takeover_s=60)
    second.wait_for_log("started (concurrency", timeout_s=30)
    time.sleep(1)  # the second worker has tried once, and failed

    first.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    successor_step = wait_until(
        lambda: first_step_of_another(database_url, than=instance_of(first)),
        timeout_s=15,
        what="a takeover",
    )
    takeover_s = time.monotonic() - stopped_at
    exit_code = first.wait(timeout_s=15)

    assert exit_code == 0, first.log()
    print(f"handover after SIGTERM: {takeover_s:.2f} s")
    assert takeover_s < 5, takeover_s
    assert successor_step.instance == instance_of(second)
    assert successor_step.trigger == "takeover"
    assert_one_instance_at_a_time(steps(database_url, SERVICE))
    # (CatalogProcess.log() flushes a file that wait() has closed: read the file itself.)
    assert "stopped leading it" in first.log_path.read_text()


async def test_with_no_live_leader_the_api_says_stopped_or_stale(
    database_url: str,
    tmp_path: Path,
    workers: list[CatalogProcess],
    client: httpx.AsyncClient,
) -> None:
    async def shown() -> dict[str, Any]:
        # The catalogue's own services are listed beside the recorder: pick it by name.
        (service,) = [s for s in (await client.get(API)).json() if s["name"] == SERVICE]
        return dict(service)

    first = start(workers, database_url, tmp_path, "w1")
    leader_process(database_url, workers)
    assert (await shown())["state"] in {"running", "idle"}
    assert (await shown())["leader"] == instance_of(first)

    first.signal(signal.SIGTERM)
    assert first.wait(timeout_s=15) == 0
    after_stop = await shown()
    assert (after_stop["state"], after_stop["leader"]) == ("stopped", None)
    assert after_stop["last_leader"] == instance_of(first)

    second = start(workers, database_url, tmp_path, "w2")
    leader_process(database_url, workers)
    second.signal(signal.SIGKILL)
    second.wait(timeout_s=10)
    # Its session ends with the process, and the lock with it: stale at once, not in 10 s.
    deadline = time.monotonic() + 3
    after_kill = await shown()
    while after_kill["state"] != "stale" and time.monotonic() < deadline:
        after_kill = await shown()
    assert (after_kill["state"], after_kill["leader"]) == ("stale", None)
    assert after_kill["last_leader"] == instance_of(second)
    assert after_kill["alive"] is False
