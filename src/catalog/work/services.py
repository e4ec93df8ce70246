"""Background services: always-on loops, each run by exactly one instance at a time.

Leadership. Every process that runs services opens one dedicated connection (not from a pool)
and, every `service_takeover_s`, tries `pg_try_advisory_lock` for each declared service it does
not lead yet. It holds a service's session lock for as long as it leads it, so a leader that dies
(SIGKILL, lost network, PostgreSQL restart) loses the lock with its connection and a standby
takes over at its next try. A leader checks the connection and its locks every `HEARTBEAT_S`
and, in the same round trip that marks a step running, right before every step: once the
connection is gone it cancels its steps at once and competes again. A leader that stops
gracefully lets its step finish (or cancels it after the grace), records 'stopped', releases
the lock and NOTIFYs the release, so a standby takes over at once instead of at its next try.
There is no fencing token: when the server ends a live leader's session (pg_terminate_backend),
a standby may start a step up to about HEARTBEAT_S before the old leader's step is cancelled,
so a step's writes should stay idempotent (a durable cursor, upserts).

Loop. One task per led service: a step runs every `interval_s` (measured from the previous
step's start), sooner on a NOTIFY on the service's `listen` channel (a burst of notifications
becomes one step) or on an operator's wake-up, and after a failure again after an exponential,
capped, jittered backoff, the error recorded. A new leader runs a step at once if the service
listens for NOTIFYs (some may have been sent while nobody listened) or its interval has passed
since the last step of any leader.

Status (table work_services), `state`:

    running      the leader is executing a step
    idle         the leader waits for the next interval or a wake-up
    backing_off  the last step failed; the leader waits before retrying
    stopped      no instance leads it: its last leader shut down, or none has run it yet
    stale        (derived on read, never stored) the row names a leader, but that leader no
                 longer holds the lock or its heartbeat is older than STALE_AFTER_S: it died
                 or was cut off, and no other instance has taken over yet
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from catalog.domain.errors import NotFound
from catalog.work.engine import ServiceDefinition
from catalog.work.journal import MESSAGE_MAX_CHARS, TRACEBACK_MAX_CHARS
from catalog.work.policy import RetryPolicy
from catalog.work.service_context import ServiceContext, ServiceStopping, Trigger
from catalog.work.worker import instance_name

if TYPE_CHECKING:
    from catalog.bootstrap import Runtime

log = logging.getLogger(__name__)

# Operating policy.
HEARTBEAT_S = 1.0  # how often a leader checks its lock connection and writes heartbeat_at
LOCK_QUERY_TIMEOUT_S = 5.0  # a lock-connection query slower than this: the connection is lost
STALE_AFTER_S = 10.0  # a leader silent this long is reported 'stale'
STEP_BACKOFF = RetryPolicy(backoff_s=1.0, max_backoff_s=300.0, jitter=0.25)
WAKE_COALESCE_S = 0.1  # after a NOTIFY, wait this long so that a burst becomes one step
CONNECT_TIMEOUT_S = 5
# TCP keepalives, on both ends of the dedicated connections, so that a half-open connection
# (the network, not the process, died) is noticed in about idle + interval * count seconds.
KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 3

WAKE_CHANNEL = "catalog_service_wake"  # payload: a service name, to run its step now
RELEASED_CHANNEL = "catalog_service_released"  # payload: a service whose lock was just released
LOCK_APPLICATION_NAME = "catalog-service-lock"
LISTEN_APPLICATION_NAME = "catalog-service-listen"


class ServiceState(StrEnum):
    """A service's state as the API reports it; see the module docstring."""

    RUNNING = "running"
    IDLE = "idle"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"
    STALE = "stale"


LIVE_STATES = frozenset({ServiceState.RUNNING, ServiceState.IDLE, ServiceState.BACKING_OFF})


def derive_state(
    stored: ServiceState,
    *,
    lock_held: bool,
    heartbeat_age_s: float | None,
    stale_after_s: float = STALE_AFTER_S,
) -> ServiceState:
    """The state to report: a stored live state is 'stale' once its leader is gone or silent."""
    if stored not in LIVE_STATES:
        return stored
    if not lock_held or heartbeat_age_s is None or heartbeat_age_s > stale_after_s:
        return ServiceState.STALE
    return stored


def step_backoff_s(consecutive_failures: int, *, rng: random.Random | None = None) -> float:
    """The wait before retrying a step that failed `consecutive_failures` times in a row."""
    return STEP_BACKOFF.delay_s(consecutive_failures, rng=rng)


def first_step_delay_s(
    *, interval_s: float, since_last_start_s: float | None, listens: bool
) -> float:
    """How long a new leader waits before its first step."""
    if listens or since_last_start_s is None:
        return 0.0
    return max(0.0, interval_s - since_last_start_s)


class UnknownService(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no background service named {name!r}")


@dataclasses.dataclass(frozen=True)
class ServiceStatus:
    """What the management API and dashboard show of one service."""

    name: str
    state: ServiceState
    leader: str | None  # None unless the state is live
    last_leader: str | None
    leader_since: datetime | None
    declared: bool  # declared by this process's code (else: only by a live leader's)
    interval_s: float
    listen: str | None
    summary: str
    runs: int
    failures: int
    consecutive_failures: int
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_duration_s: float | None
    last_success: datetime | None
    last_error_type: str | None
    last_error_message: str | None
    last_error_traceback: str | None
    last_error_at: datetime | None
    lag: float | None
    next_run_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def last_error(self) -> str | None:
        """`Type: message` of the last failed step, kept after later successes."""
        if self.last_error_type is None:
            return None
        if not self.last_error_message:
            return self.last_error_type
        return f"{self.last_error_type}: {self.last_error_message}"


# --- Status store: reading ------------------------------------------------------------------

_STATUS_QUERY = """
SELECT w.*, extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age_s,
       EXISTS (SELECT 1 FROM work_service_locks l
                WHERE l.key = work_service_lock_key(w.name)) AS lock_held
  FROM work_services w
"""


async def read_statuses(
    conn: psycopg.AsyncConnection[Any], declared: Mapping[str, ServiceDefinition]
) -> list[ServiceStatus]:
    """Every declared service, and any other one a live leader runs, by name."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_STATUS_QUERY + " ORDER BY w.name")
    rows = {row["name"]: row for row in await cur.fetchall()}
    statuses = [_status(name, rows.get(name), declared.get(name)) for name in declared]
    for name, row in rows.items():
        if name in declared:
            continue
        status = _status(name, row, None)
        # Code no longer declares it: shown only while a leader (older code) still runs it.
        if status.state in LIVE_STATES:
            statuses.append(status)
    return sorted(statuses, key=lambda status: status.name)


async def read_status(
    conn: psycopg.AsyncConnection[Any], name: str, declared: Mapping[str, ServiceDefinition]
) -> ServiceStatus:
    for status in await read_statuses(conn, declared):
        if status.name == name:
            return status
    raise UnknownService(name)


async def request_wake(conn: psycopg.AsyncConnection[Any], name: str) -> None:
    """Ask the leader of `name` to run a step now (delivered when the transaction commits)."""
    await conn.execute("SELECT pg_notify(%s, %s)", (WAKE_CHANNEL, name))


def _status(
    name: str, row: dict[str, Any] | None, definition: ServiceDefinition | None
) -> ServiceStatus:
    if row is None:
        assert definition is not None
        row = {"state": ServiceState.STOPPED, "lock_held": False, "heartbeat_age_s": None}
    state = derive_state(
        ServiceState(row["state"]),
        lock_held=bool(row["lock_held"]),
        heartbeat_age_s=row["heartbeat_age_s"],
    )
    live = state in LIVE_STATES
    # A live leader's row says what actually runs (its code may be another version).
    if definition is not None and not live:
        interval_s, listen, summary = definition.interval_s, definition.listen, definition.summary
    else:
        interval_s, listen, summary = row["interval_s"], row["listen"], row["summary"]
    return ServiceStatus(
        name=name,
        state=state,
        leader=row.get("leader") if live else None,
        last_leader=row.get("last_leader"),
        leader_since=row.get("leader_since") if live else None,
        declared=definition is not None,
        interval_s=float(interval_s),
        listen=listen,
        summary=summary,
        runs=int(row.get("runs") or 0),
        failures=int(row.get("failures") or 0),
        consecutive_failures=int(row.get("consecutive_failures") or 0),
        last_started_at=row.get("last_started_at"),
        last_finished_at=row.get("last_finished_at"),
        last_duration_s=row.get("last_duration_s"),
        last_success=row.get("last_success"),
        last_error_type=row.get("last_error_type"),
        last_error_message=row.get("last_error_message"),
        last_error_traceback=row.get("last_error_traceback"),
        last_error_at=row.get("last_error_at"),
        lag=row.get("lag"),
        next_run_at=row.get("next_run_at") if live else None,
        heartbeat_at=row.get("heartbeat_at"),
    )


# --- Status store and locks: writing, on the lock connection ---------------------------------


class LeadershipLost(Exception):
    """The lock connection failed or a lock is gone: this instance no longer leads."""


@dataclasses.dataclass(frozen=True)
class _Claim:
    since_last_start_s: float | None
    consecutive_failures: int


class _LockSession:
    """The dedicated connection that holds this process's service locks, and writes as leader.

    Every status write names the leader in its WHERE clause: a write from an instance that has
    lost the lead changes nothing.
    """

    def __init__(self, conn: psycopg.AsyncConnection[Any], *, instance: str) -> None:
        self.conn = conn
        self.instance = instance
        self.lost = asyncio.Event()

    async def _query(self, query: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        if self.lost.is_set():
            raise LeadershipLost("the lock connection is gone")
        try:
            async with asyncio.timeout(LOCK_QUERY_TIMEOUT_S):
                cur = await self.conn.execute(query, params)
                return await cur.fetchall() if cur.description is not None else []
        except (psycopg.Error, TimeoutError) as exc:
            self.lost.set()
            raise LeadershipLost(f"the lock connection failed: {exc!r}") from exc

    async def prune_undeclared(self, declared: Iterable[str]) -> None:
        """Forget services no code declares any more, unless a leader still runs one."""
        await self._query(
            """
            DELETE FROM work_services w
             WHERE w.name <> ALL(%(declared)s::text[])
               AND (w.state = 'stopped' OR w.heartbeat_at IS NULL
                    OR w.heartbeat_at < now() - make_interval(secs => %(stale_after_s)s))
               AND NOT EXISTS (SELECT 1 FROM work_service_locks l
                                WHERE l.key = work_service_lock_key(w.name))
            """,
            {"declared": list(declared), "stale_after_s": STALE_AFTER_S},
        )

    async def try_lock(self, names: Iterable[str]) -> list[str]:
        """The services among `names` whose lock this session now holds."""
        # CASE, not OR: a lock this session holds already must not be taken twice (session
        # locks stack, and one unlock would then not release it).
        rows = await self._query(
            """
            SELECT name, CASE WHEN work_service_lock_held(name) THEN true
                              ELSE pg_try_advisory_lock(work_service_lock_key(name)) END
              FROM unnest(%(names)s::text[]) AS name
            """,
            {"names": list(names)},
        )
        return [name for name, won in rows if won]

    async def heartbeat(self, lags: Mapping[str, float | None]) -> set[str]:
        """Prove the connection alive, stamp the services led; the ones whose lock is held."""
        rows = await self._query(
            """
            WITH mine AS (
                SELECT v.name, v.lag
                  FROM unnest(%(names)s::text[], %(lags)s::float8[]) AS v(name, lag)
                 WHERE work_service_lock_held(v.name)
            ), beat AS (
                UPDATE work_services w SET heartbeat_at = now(), lag = coalesce(mine.lag, w.lag)
                  FROM mine WHERE w.name = mine.name AND w.leader = %(instance)s
            )
            SELECT name FROM mine
            """,
            {"names": list(lags), "lags": list(lags.values()), "instance": self.instance},
        )
        return {name for (name,) in rows}

    async def claim(self, definition: ServiceDefinition) -> _Claim:
        """Record this instance as the leader (it holds the lock)."""
        rows = await self._query(
            """
            INSERT INTO work_services AS w (name, state, leader, leader_since, last_leader,
                                            interval_s, listen, summary, heartbeat_at)
            VALUES (%(name)s, 'idle', %(instance)s, now(), %(instance)s, %(interval_s)s,
                    %(listen)s, %(summary)s, now())
            ON CONFLICT (name) DO UPDATE SET
                state = 'idle', leader = EXCLUDED.leader, leader_since = now(),
                last_leader = EXCLUDED.leader, interval_s = EXCLUDED.interval_s,
                listen = EXCLUDED.listen, summary = EXCLUDED.summary, heartbeat_at = now(),
                declared_at = now()
            RETURNING extract(epoch FROM now() - w.last_started_at)::float8,
                      w.consecutive_failures
            """,
            {
                "name": definition.name,
                "instance": self.instance,
                "interval_s": definition.interval_s,
                "listen": definition.listen,
                "summary": definition.summary,
            },
        )
        ((since_last_start_s, consecutive_failures),) = rows
        return _Claim(since_last_start_s, int(consecutive_failures))

    async def schedule(self, name: str, *, in_s: float) -> None:
        await self._query(
            "UPDATE work_services SET next_run_at = now() + make_interval(secs => %(in_s)s)"
            " WHERE name = %(name)s AND leader = %(instance)s",
            {"name": name, "instance": self.instance, "in_s": in_s},
        )

    async def mark_running(self, name: str) -> bool:
        """Mark a step started, if this session still holds the lock: the check before a step."""
        rows = await self._query(
            """
            UPDATE work_services
               SET state = 'running', last_started_at = now(), next_run_at = NULL,
                   heartbeat_at = now()
             WHERE name = %(name)s AND leader = %(instance)s AND work_service_lock_held(name)
            RETURNING 1
            """,
            {"name": name, "instance": self.instance},
        )
        return bool(rows)

    async def record_success(
        self, name: str, *, duration_s: float, lag: float | None, next_in_s: float
    ) -> None:
        await self._query(
            """
            UPDATE work_services
               SET state = 'idle', runs = runs + 1, consecutive_failures = 0,
                   last_success = now(), last_finished_at = now(),
                   last_duration_s = %(duration_s)s, lag = coalesce(%(lag)s, lag),
                   next_run_at = now() + make_interval(secs => %(next_in_s)s),
                   heartbeat_at = now()
             WHERE name = %(name)s AND leader = %(instance)s
            """,
            {
                "name": name,
                "instance": self.instance,
                "duration_s": duration_s,
                "lag": lag,
                "next_in_s": next_in_s,
            },
        )

    async def record_failure(
        self,
        name: str,
        error: BaseException,
        *,
        duration_s: float,
        lag: float | None,
        next_in_s: float,
    ) -> None:
        await self._query(
            """
            UPDATE work_services
               SET state = 'backing_off', runs = runs + 1, failures = failures + 1,
                   consecutive_failures = consecutive_failures + 1,
                   last_error_type = %(error_type)s, last_error_message = %(message)s,
                   last_error_traceback = %(traceback)s, last_error_at = now(),
                   last_finished_at = now(), last_duration_s = %(duration_s)s,
                   lag = coalesce(%(lag)s, lag),
                   next_run_at = now() + make_interval(secs => %(next_in_s)s),
                   heartbeat_at = now()
             WHERE name = %(name)s AND leader = %(instance)s
            """,
            {
                "name": name,
                "instance": self.instance,
                "error_type": type(error).__qualname__,
                "message": str(error)[:MESSAGE_MAX_CHARS],
                "traceback": "".join(traceback.format_exception(error))[-TRACEBACK_MAX_CHARS:],
                "duration_s": duration_s,
                "lag": lag,
                "next_in_s": next_in_s,
            },
        )

    async def resign(self, name: str) -> None:
        """Record 'stopped', release the lock and tell the standbys, in that order."""
        await self._query(
            """
            UPDATE work_services
               SET state = 'stopped', leader = NULL, leader_since = NULL, next_run_at = NULL,
                   heartbeat_at = now()
             WHERE name = %(name)s AND leader = %(instance)s
            """,
            {"name": name, "instance": self.instance},
        )
        await self._query(
            "SELECT pg_advisory_unlock(work_service_lock_key(%(name)s)),"
            " pg_notify(%(channel)s, %(name)s)",
            {"name": name, "channel": RELEASED_CHANNEL},
        )


# --- The runner -----------------------------------------------------------------------------


@dataclasses.dataclass
class _Signals:
    """What wakes one service's loop early; set by the listener, whoever leads."""

    notified: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def clear(self) -> None:
        self.notified.clear()
        self.wake.clear()


class ServiceRunner:
    """Competes for every declared service and runs the steps of those this instance leads.

    A supervisor component: `run(stop)` returns once every led service has stopped and given
    its lock back.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        services: Mapping[str, ServiceDefinition] | None = None,
        instance: str | None = None,
    ) -> None:
        self.name = "services"
        self.runtime = runtime
        self.services = dict(runtime.work.services if services is None else services)
        self.instance = instance or instance_name()
        self._signals = {name: _Signals() for name in self.services}
        self._attempt_now = asyncio.Event()
        self._listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        if not self.services:
            await stop.wait()
            return
        listener = asyncio.create_task(self._listen(stop), name="service wake-ups")
        try:
            # Listen first: a NOTIFY sent between a takeover step and LISTEN would be lost.
            await _wait_any(self._listening, stop, timeout_s=CONNECT_TIMEOUT_S)
            while not stop.is_set():
                try:
                    conn = await self._connect(LOCK_APPLICATION_NAME)
                except psycopg.Error as exc:
                    log.warning("services: cannot connect to compete for leadership: %s", exc)
                    await _wait_any(stop, timeout_s=self.runtime.settings.service_takeover_s)
                    continue
                async with conn:
                    await self._compete(_LockSession(conn, instance=self.instance), stop)
                if not stop.is_set():
                    await _wait_any(stop, timeout_s=self.runtime.settings.service_takeover_s)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _compete(self, session: _LockSession, stop: asyncio.Event) -> None:
        """Lead what can be led on this connection until `stop` or the connection is lost."""
        loop = asyncio.get_running_loop()
        takeover_s = self.runtime.settings.service_takeover_s
        terms: dict[str, _Term] = {}
        next_attempt = 0.0
        try:
            await session.prune_undeclared(self.services)
            while not stop.is_set() and not session.lost.is_set():
                for name, term in list(terms.items()):
                    if term.task.done():
                        del terms[name]
                        _log_term_end(term)
                held = await session.heartbeat({n: t.lag() for n, t in terms.items()})
                for name in terms.keys() - held:
                    log.error("service %s: lock lost on a live connection; stopping it", name)
                    terms[name].lost.set()
                if self._attempt_now.is_set() or loop.time() >= next_attempt:
                    self._attempt_now.clear()
                    next_attempt = loop.time() + takeover_s
                    free = [name for name in self.services if name not in terms]
                    for name in await session.try_lock(free) if free else []:
                        terms[name] = _Term(
                            self, session, self.services[name], self._signals[name], stop
                        )
                await _wait_any(stop, session.lost, self._attempt_now, timeout_s=HEARTBEAT_S)
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
                _log_term_end(term)

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
            await _wait_any(stop, timeout_s=self.runtime.settings.service_takeover_s)

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
        url = self.runtime.database_url
        server_keepalives = (
            f"-c tcp_keepalives_idle={KEEPALIVE_IDLE_S}"
            f" -c tcp_keepalives_interval={KEEPALIVE_INTERVAL_S}"
            f" -c tcp_keepalives_count={KEEPALIVE_COUNT}"
        )
        configured = conninfo_to_dict(url).get("options")
        options = f"{configured} {server_keepalives}" if configured else server_keepalives
        return await psycopg.AsyncConnection.connect(
            url,
            autocommit=True,
            application_name=application_name,
            connect_timeout=CONNECT_TIMEOUT_S,
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE_S,
            keepalives_interval=KEEPALIVE_INTERVAL_S,
            keepalives_count=KEEPALIVE_COUNT,
            options=options,
        )


class _Term:
    """One instance's lead of one service: from taking its lock to giving it back."""

    def __init__(
        self,
        runner: ServiceRunner,
        session: _LockSession,
        definition: ServiceDefinition,
        signals: _Signals,
        stop: asyncio.Event,
    ) -> None:
        self.runner = runner
        self.session = session
        self.definition = definition
        self.signals = signals
        self.stop = stop
        self.lost = asyncio.Event()  # this lead is over at once: the lock is gone
        self.ctx: ServiceContext | None = None
        self.log = logging.getLogger(f"catalog.services.{definition.name}")
        self.task = asyncio.create_task(self._run(), name=f"service {definition.name}")

    def lag(self) -> float | None:
        return self.ctx.lag if self.ctx is not None else None

    def leaving(self) -> bool:
        return self.stop.is_set() or self.lock_gone()

    def lock_gone(self) -> bool:
        return self.session.lost.is_set() or self.lost.is_set()

    async def _run(self) -> None:
        definition, session = self.definition, self.session
        name = definition.name
        try:
            await self._lead()
        except LeadershipLost:
            self.lost.set()
        finally:
            if not self.lock_gone():
                try:
                    await session.resign(name)
                    log.info("service %s: %s stopped leading it", name, self.runner.instance)
                except LeadershipLost:
                    self.lost.set()

    async def _lead(self) -> None:
        definition, session = self.definition, self.session
        name = definition.name
        loop = asyncio.get_running_loop()
        # The listener's wake-ups from before this lead are moot: the first step covers them.
        self.signals.clear()
        claim = await session.claim(definition)
        delay_s = first_step_delay_s(
            interval_s=definition.interval_s,
            since_last_start_s=claim.since_last_start_s,
            listens=definition.listen is not None,
        )
        await session.schedule(name, in_s=delay_s)
        log.info("service %s: %s took the lead", name, self.runner.instance)
        failures = claim.consecutive_failures
        due = Trigger.TAKEOVER
        while True:
            trigger = await self._next_trigger(delay_s, due, backing_off=due is Trigger.RETRY)
            if trigger is None:
                return
            if not await session.mark_running(name):
                raise LeadershipLost(f"service {name}: lock or leadership row not ours")
            started = loop.time()
            ctx = ServiceContext(
                runtime=self.runner.runtime,
                name=name,
                instance=self.runner.instance,
                trigger=trigger,
                interval_s=definition.interval_s,
                log=self.log,
                _should_stop=self.leaving,
            )
            self.ctx = ctx
            outcome = await self._step(ctx)
            duration_s = loop.time() - started
            if outcome is _INTERRUPTED:
                if self.lock_gone():
                    return
                continue  # stopping: the next wait returns None and the term resigns
            if outcome is None:
                failures = 0
                delay_s, due = max(0.0, definition.interval_s - duration_s), Trigger.INTERVAL
                await session.record_success(
                    name, duration_s=duration_s, lag=ctx.lag, next_in_s=delay_s
                )
            else:
                assert isinstance(outcome, BaseException)
                failures += 1
                delay_s, due = step_backoff_s(failures), Trigger.RETRY
                log.warning(
                    "service %s: step failed (%d in a row); retrying in %.1f s",
                    name,
                    failures,
                    delay_s,
                    exc_info=outcome,
                )
                await session.record_failure(
                    name, outcome, duration_s=duration_s, lag=ctx.lag, next_in_s=delay_s
                )

    async def _next_trigger(
        self, delay_s: float, due: Trigger, *, backing_off: bool
    ) -> Trigger | None:
        """Wait for the next step's reason, or None once leaving."""
        hard = (self.stop, self.session.lost, self.lost)
        # While backing off, only an operator's wake-up cuts the wait: a NOTIFY is kept for later.
        early = (self.signals.wake,) if backing_off else (self.signals.wake, self.signals.notified)
        if delay_s > 0 and not any(event.is_set() for event in early):
            await _wait_any(*hard, *early, timeout_s=delay_s)
        if self.leaving():
            return None
        trigger = due
        if self.signals.wake.is_set():
            trigger = Trigger.WAKE
        elif self.signals.notified.is_set() and not backing_off:
            trigger = Trigger.NOTIFY
            # Let the rest of a burst arrive: it becomes part of this step.
            await _wait_any(*hard, timeout_s=WAKE_COALESCE_S)
            if self.leaving():
                return None
        # Cleared as the step starts, so that a signal arriving during the step runs another.
        self.signals.clear()
        return trigger

    async def _step(self, ctx: ServiceContext) -> BaseException | _Interrupted | None:
        """Run one step: None on success, its error on failure, or _INTERRUPTED."""

        async def run_step() -> None:
            await self.definition.step(ctx)

        step = asyncio.create_task(run_step(), name=f"step of {ctx.name}")
        try:
            await _wait_any(self.stop, self.session.lost, self.lost, step)
            if not step.done() and not self.lock_gone():
                # Stopping gracefully: the step may finish within the grace (it is told through
                # ctx.should_stop), unless the lock goes meanwhile.
                grace_s = self.runner.runtime.settings.shutdown_grace_s
                await _wait_any(self.session.lost, self.lost, step, timeout_s=grace_s)
                if not step.done():
                    log.warning("service %s: step cancelled after the grace", ctx.name)
            elif not step.done():
                log.warning("service %s: lock lost; cancelling the step", ctx.name)
        finally:
            if not step.done():
                step.cancel()
                await asyncio.wait({step})
        if step.cancelled():
            return _INTERRUPTED
        error = step.exception()
        if isinstance(error, ServiceStopping) and self.leaving():
            return _INTERRUPTED
        return error


class _Interrupted:
    """A step that stopped because its instance is leaving: neither success nor failure."""


_INTERRUPTED = _Interrupted()


def _log_term_end(term: _Term) -> None:
    if term.task.done() and not term.task.cancelled() and term.task.exception() is not None:
        log.error(
            "service %s: its loop crashed", term.definition.name, exc_info=term.task.exception()
        )


async def _wait_any(
    *waitables: asyncio.Event | asyncio.Task[Any], timeout_s: float | None = None
) -> bool:
    """Wait until any event is set or task done (True), or `timeout_s` passed (False)."""
    waiters: list[asyncio.Future[Any]] = []
    own: list[asyncio.Task[Any]] = []
    for item in waitables:
        if isinstance(item, asyncio.Event):
            waiter = asyncio.ensure_future(item.wait())
            own.append(waiter)
            waiters.append(waiter)
        else:
            waiters.append(item)
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when="FIRST_COMPLETED")
    finally:
        for waiter in own:
            waiter.cancel()
    return bool(done)
