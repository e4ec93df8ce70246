"""The runner: competes for every declared service and runs the loops of those it leads.

Every `service_takeover_s` it tries the lock of each declared service it does not lead yet,
and every `HEARTBEAT_S` it checks its lock connection and locks and stamps the heartbeat. A
separate connection LISTENs for the services' wake-up channels, operators' wake-ups and
releases (so a standby takes over at once when a leader resigns).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

from catalog.work.declarations import ServiceDefinition
from catalog.work.resources import Resources
from catalog.work.services.leadership import (
    CONNECT_TIMEOUT_S,
    LISTEN_APPLICATION_NAME,
    LOCK_APPLICATION_NAME,
    RELEASED_CHANNEL,
    LeadershipLost,
    LockSession,
    connect,
)
from catalog.work.services.loop import Signals, Term, log_term_end, wait_any
from catalog.work.services.status import WAKE_CHANNEL
from catalog.work.worker import instance_name

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # how often a leader checks its lock connection and writes heartbeat_at


class ServiceRunner:
    """Competes for every declared service and runs the steps of those this instance leads.

    A supervisor component: `run(stop)` returns once every led service has stopped and given
    its lock back.
    """

    def __init__(
        self,
        resources: Resources,
        *,
        services: Mapping[str, ServiceDefinition] | None = None,
        instance: str | None = None,
    ) -> None:
        self.name = "services"
        self.resources = resources
        self.services = dict(resources.work.services if services is None else services)
        self.instance = instance or instance_name()
        self._signals = {name: Signals() for name in self.services}
        self._attempt_now = asyncio.Event()
        self._listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        if not self.services:
            await stop.wait()
            return
        listener = asyncio.create_task(self._listen(stop), name="service wake-ups")
        try:
            # Listen first: a NOTIFY sent between a takeover step and LISTEN would be lost.
            await wait_any(self._listening, stop, timeout_s=CONNECT_TIMEOUT_S)
            while not stop.is_set():
                try:
                    conn = await self._connect(LOCK_APPLICATION_NAME)
                except psycopg.Error as exc:
                    log.warning("services: cannot connect to compete for leadership: %s", exc)
                    await wait_any(stop, timeout_s=self.resources.settings.service_takeover_s)
                    continue
                async with conn:
                    await self._compete(LockSession(conn, instance=self.instance), stop)
                if not stop.is_set():
                    await wait_any(stop, timeout_s=self.resources.settings.service_takeover_s)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _compete(self, session: LockSession, stop: asyncio.Event) -> None:
        """Lead what can be led on this connection until `stop` or the connection is lost."""
        loop = asyncio.get_running_loop()
        takeover_s = self.resources.settings.service_takeover_s
        terms: dict[str, Term] = {}
        next_attempt = 0.0
        try:
            await session.prune_undeclared(self.services)
            while not stop.is_set() and not session.lost.is_set():
                for name, term in list(terms.items()):
                    if term.task.done():
                        del terms[name]
                        log_term_end(term)
                held = await session.heartbeat({n: t.lag() for n, t in terms.items()})
                for name in terms.keys() - held:
                    log.error("service %s: lock lost on a live connection; stopping it", name)
                    terms[name].lost.set()
                if self._attempt_now.is_set() or loop.time() >= next_attempt:
                    self._attempt_now.clear()
                    next_attempt = loop.time() + takeover_s
                    free = [name for name in self.services if name not in terms]
                    for name in await session.try_lock(free) if free else []:
                        terms[name] = Term(
                            self.resources,
                            session,
                            self.services[name],
                            instance=self.instance,
                            signals=self._signals[name],
                            stop=stop,
                        )
                await wait_any(stop, session.lost, self._attempt_now, timeout_s=HEARTBEAT_S)
        except LeadershipLost as exc:
            if not stop.is_set():
                log.warning("services: %s; competing again", exc)
        finally:
            # On stop, each term finishes or cancels its step within the grace and resigns.
            # Otherwise the connection is going (lost, or this task failed or was cancelled):
            # each term cancels its step at once.
            if not stop.is_set():
                session.lost.set()
            await asyncio.gather(*(term.task for term in terms.values()), return_exceptions=True)
            for term in terms.values():
                log_term_end(term)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Turn NOTIFYs into wake-ups, on a connection of its own, reconnecting as needed."""
        channels: dict[str, list[str]] = {}
        for definition in self.services.values():
            if definition.listen:
                channels.setdefault(definition.listen, []).append(definition.name)
        reconnected = False
        while not stop.is_set():
            try:
                async with await self._connect(LISTEN_APPLICATION_NAME) as conn:
                    for channel in [*channels, WAKE_CHANNEL, RELEASED_CHANNEL]:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if reconnected:
                        # NOTIFYs sent while nobody listened are lost: run each listener once.
                        for names in channels.values():
                            for name in names:
                                self._signals[name].notified.set()
                    self._listening.set()
                    reconnected = True
                    async for notify in conn.notifies():
                        self._dispatch(notify.channel, notify.payload, channels)
            except psycopg.Error as exc:
                log.warning("services: wake-up connection failed: %s; reconnecting", exc)
            await wait_any(stop, timeout_s=self.resources.settings.service_takeover_s)

    def _dispatch(self, channel: str, payload: str, channels: Mapping[str, list[str]]) -> None:
        if channel == WAKE_CHANNEL:
            if payload in self._signals:
                self._signals[payload].wake.set()
        elif channel == RELEASED_CHANNEL:
            if payload in self._signals:
                self._attempt_now.set()
        else:
            for name in channels.get(channel, ()):
                self._signals[name].notified.set()

    async def _connect(self, application_name: str) -> psycopg.AsyncConnection[Any]:
        return await connect(self.resources.work.database_url, application_name=application_name)
