"""What the API and dashboard show of a service: its status row, read with the lock's state.

`state` as stored in `work_services`, and `stale`, derived on read (see the package docstring).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from catalog.domain.errors import NotFound
from catalog.work.declarations import ServiceDefinition

STALE_AFTER_S = 10.0  # a leader silent this long is reported 'stale'
WAKE_CHANNEL = "catalog_service_wake"  # payload: a service name, to run its step now


class ServiceState(StrEnum):
    """A service's state as the API reports it; see the package docstring."""

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
    lag_rows: int | None  # rows the service said it is behind; None: not reported
    lag_s: float | None  # age of the oldest change it has not handled; None: not reported
    details: dict[str, Any] | None  # what the service last reported for operators
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
        lag_rows=row.get("lag_rows"),
        lag_s=row.get("lag_s"),
        details=row.get("details"),
        next_run_at=row.get("next_run_at") if live else None,
        heartbeat_at=row.get("heartbeat_at"),
    )
