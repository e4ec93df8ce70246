"""Leadership: the dedicated connection that holds this process's service locks.

Every process that runs services opens one such connection (not from a pool) and holds each
led service's session advisory lock on it, so a leader that dies loses its locks with its
connection. Every status write made as leader goes through it and names the leader in its
WHERE clause: a write from an instance that has lost the lead changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from catalog.work.declarations import ServiceDefinition
from catalog.work.journal import MESSAGE_MAX_CHARS, TRACEBACK_MAX_CHARS
from catalog.work.services.context import ReportedLag
from catalog.work.services.status import STALE_AFTER_S

LOCK_QUERY_TIMEOUT_S = 5.0  # a lock-connection query slower than this: the connection is lost
CONNECT_TIMEOUT_S = 5
# TCP keepalives, on both ends of the dedicated connections, so that a half-open connection
# (the network, not the process, died) is noticed in about idle + interval * count seconds.
KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 3

RELEASED_CHANNEL = "catalog_service_released"  # payload: a service whose lock was just released
LOCK_APPLICATION_NAME = "catalog-service-lock"
LISTEN_APPLICATION_NAME = "catalog-service-listen"


async def connect(database_url: str, *, application_name: str) -> psycopg.AsyncConnection[Any]:
    """A dedicated autocommit connection, with keepalives on both ends."""
    server_keepalives = (
        f"-c tcp_keepalives_idle={KEEPALIVE_IDLE_S}"
        f" -c tcp_keepalives_interval={KEEPALIVE_INTERVAL_S}"
        f" -c tcp_keepalives_count={KEEPALIVE_COUNT}"
    )
    configured = conninfo_to_dict(database_url).get("options")
    options = f"{configured} {server_keepalives}" if configured else server_keepalives
    return await psycopg.AsyncConnection.connect(
        database_url,
        autocommit=True,
        application_name=application_name,
        connect_timeout=CONNECT_TIMEOUT_S,
        keepalives=1,
        keepalives_idle=KEEPALIVE_IDLE_S,
        keepalives_interval=KEEPALIVE_INTERVAL_S,
        keepalives_count=KEEPALIVE_COUNT,
        options=options,
    )


class LeadershipLost(Exception):
    """The lock connection failed or a lock is gone: this instance no longer leads."""


@dataclasses.dataclass(frozen=True)
class Claim:
    since_last_start_s: float | None
    consecutive_failures: int


class LockSession:
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

    async def heartbeat(self, lags: Mapping[str, ReportedLag | None]) -> set[str]:
        """Prove the connection alive, stamp the services led; the ones whose lock is held."""
        reported = list(lags.values())
        rows = await self._query(
            """
            WITH mine AS (
                SELECT v.*
                  FROM unnest(%(names)s::text[], %(reported)s::bool[], %(rows)s::int8[],
                              %(seconds)s::float8[]) AS v(name, reported, lag_rows, lag_s)
                 WHERE work_service_lock_held(v.name)
            ), beat AS (
                UPDATE work_services w SET heartbeat_at = now(),
                       lag_rows = CASE WHEN mine.reported THEN mine.lag_rows ELSE w.lag_rows END,
                       lag_s = CASE WHEN mine.reported THEN mine.lag_s ELSE w.lag_s END
                  FROM mine WHERE w.name = mine.name AND w.leader = %(instance)s
            )
            SELECT name FROM mine
            """,
            {
                "names": list(lags),
                "reported": [lag is not None for lag in reported],
                "rows": [lag.rows if lag is not None else None for lag in reported],
                "seconds": [lag.seconds if lag is not None else None for lag in reported],
                "instance": self.instance,
            },
        )
        return {name for (name,) in rows}

    async def claim(self, definition: ServiceDefinition) -> Claim:
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
        return Claim(since_last_start_s, int(consecutive_failures))

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
        self,
        name: str,
        *,
        duration_s: float,
        lag: ReportedLag | None,
        details: Mapping[str, Any] | None = None,
        next_in_s: float,
    ) -> None:
        await self._query(
            """
            UPDATE work_services
               SET state = 'idle', runs = runs + 1, consecutive_failures = 0,
                   last_success = now(), last_finished_at = now(),
                   last_duration_s = %(duration_s)s,
                   lag_rows = CASE WHEN %(lag_reported)s THEN %(lag_rows)s::bigint
                                   ELSE lag_rows END,
                   lag_s = CASE WHEN %(lag_reported)s THEN %(lag_s)s::float8 ELSE lag_s END,
                   details = coalesce(%(details)s::jsonb, details),
                   next_run_at = now() + make_interval(secs => %(next_in_s)s),
                   heartbeat_at = now()
             WHERE name = %(name)s AND leader = %(instance)s
            """,
            {
                "name": name,
                "instance": self.instance,
                "duration_s": duration_s,
                **_lag_params(lag),
                "details": Jsonb(details) if details is not None else None,
                "next_in_s": next_in_s,
            },
        )

    async def record_failure(
        self,
        name: str,
        error: BaseException,
        *,
        duration_s: float,
        lag: ReportedLag | None,
        details: Mapping[str, Any] | None = None,
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
                   lag_rows = CASE WHEN %(lag_reported)s THEN %(lag_rows)s::bigint
                                   ELSE lag_rows END,
                   lag_s = CASE WHEN %(lag_reported)s THEN %(lag_s)s::float8 ELSE lag_s END,
                   details = coalesce(%(details)s::jsonb, details),
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
                **_lag_params(lag),
                "details": Jsonb(details) if details is not None else None,
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


def _lag_params(lag: ReportedLag | None) -> dict[str, Any]:
    # A step that reported its lag replaces both columns (a unit it left out becomes NULL); one
    # that reported nothing leaves them as they were.
    return {
        "lag_reported": lag is not None,
        "lag_rows": lag.rows if lag is not None else None,
        "lag_s": lag.seconds if lag is not None else None,
    }
