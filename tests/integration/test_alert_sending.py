"""Sending inventory alerts: the service in a worker, a real HTTP receiver, a real SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from catalog import inventory_monitor
from catalog.bootstrap import Runtime
from catalog.settings import Settings
from tests.integration.test_inventory_monitoring import all_alerts
from tests.support.catalogue import add_category, add_product, set_stock
from tests.support.jobstate import job_runs
from tests.support.polling import eventually
from tests.support.settings import MakeSettings


class Receiver:
    """A local HTTP server recording JSON POSTs; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/inventory"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:  # a free port: the controller checks it by connecting
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def settings(
    make_settings: MakeSettings, receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> Settings:
    return make_settings(
        services_enabled=True,
        alert_webhook_url=receiver.url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        alert_email_to=["ops@example.test"],
    )


async def swept(rt: Runtime) -> bool:
    """Whether the service's first step (its cursor, then the baseline sweep) is done."""
    return await inventory_monitor.last_sweep(rt.engine) is not None


async def send_jobs(rt: Runtime) -> list[tuple[int, str]]:
    async with rt.work.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT (args->>'alert_id')::bigint, args->>'channel' FROM procrastinate_jobs"
            " WHERE task_name = 'send-alert' ORDER BY id"
        )
        return [(int(a), str(c)) for a, c in await cur.fetchall()]


async def alert_count_is(rt: Runtime, count: int) -> bool:
    return len(await all_alerts(rt)) == count


async def test_critical_and_out_are_sent_by_webhook_and_email_within_seconds(
    worker: Runtime, receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    async with worker.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        product = await add_product(conn, "HAMMER", category_id=category, stock=20)
        await add_product(conn, "ANVIL", category_id=category, stock=0)  # out before the start
    # The first step registers the cursor and sweeps: ANVIL's alert is the baseline, not sent.
    await eventually(lambda: swept(worker), timeout_s=20)
    assert await all_alerts(worker) == [(product + 1, "out", "in_stock", 0, True)]
    await set_stock(worker.engine, product, 8)  # low: stored and logged, not sent
    await eventually(lambda: alert_count_is(worker, 2), timeout_s=60)
    await set_stock(worker.engine, product, 0)  # out: sent

    await eventually(lambda: len(receiver.bodies) == 1 and len(box.messages) == 1, timeout_s=60)
    body = receiver.bodies[0]
    assert {k: body[k] for k in ("product_id", "sku", "level", "previous_level", "stock")} == {
        "product_id": product,
        "sku": "HAMMER",
        "level": "out",
        "previous_level": "low",
        "stock": 0,
    }
    assert box.messages[0].rcpt_tos == ["ops@example.test"]
    assert b"HAMMER is out (stock 0)" in box.messages[0].content
    found = await all_alerts(worker)
    assert [row[1] for row in found] == ["out", "low", "out"]
    async with worker.engine.connect() as conn:
        out_alert = await conn.scalar(
            sa.text("SELECT max(id) FROM inventory_alerts WHERE product_id = :p"), {"p": product}
        )
    assert await send_jobs(worker) == [(out_alert, "webhook"), (out_alert, "email")]


async def test_a_webhook_that_fails_is_retried_by_the_engine(
    worker: Runtime, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    async with worker.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        saw = await add_product(conn, "SAW", category_id=category, stock=20)
    await eventually(lambda: swept(worker), timeout_s=20)
    await set_stock(worker.engine, saw, 0)  # out: one webhook and one e-mail job
    await eventually(lambda: len(receiver.bodies) == 1, timeout_s=60)
    async with worker.work.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM procrastinate_jobs WHERE task_name = 'send-alert'"
            " AND args->>'channel' = 'webhook'"
        )
        (job_id,) = await cur.fetchone() or (0,)

    async def ran() -> bool:
        return bool(await job_runs(worker, job_id))

    await eventually(ran)
    runs = await job_runs(worker, job_id)
    assert runs[0]["outcome"] == "retrying"
    assert "503" in runs[0]["error_message"]
