"""Management API: background services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from catalog.api.deps import RuntimeDep
from catalog.api.timestamps import Timestamp
from catalog.work.services import status as service_status
from catalog.work.services.status import ServiceState, ServiceStatus

router = APIRouter(prefix="/api/backgroundjobs", tags=["background services"])


class BackgroundService(BaseModel):
    """One background service: who leads it, how it fares."""

    name: str = Field(description="The service's id, as declared in code.")
    state: ServiceState = Field(
        description=(
            "running: a step is executing; idle: waiting for its interval or a wake-up;"
            " backing_off: the last step failed, waiting to retry; stopped: no instance leads"
            " it; stale: its leader died or was cut off and nobody has taken over yet."
        )
    )
    leader: str | None = Field(
        description="The instance (host:pid) leading it now; null unless the state is live."
    )
    interval_s: float = Field(description="Seconds between the starts of two steps.")
    last_success: Timestamp | None = Field(description="When a step last succeeded.")
    last_error: str | None = Field(
        description="`Type: message` of the last failed step, kept after later successes."
    )
    runs: int = Field(description="Steps finished, failed ones included.")
    lag_rows: int | None = Field(
        description=(
            "How many rows (changes) the service has yet to handle, as its last report said;"
            " null if it has not reported it."
        )
    )
    lag_s: float | None = Field(
        description=(
            "How many seconds behind the service is (the age of the oldest change it has yet"
            " to handle), as its last report said; null if it has not reported it."
        )
    )
    details: dict[str, Any] | None = Field(
        description=(
            "What the service last reported for operators (search-sync: its last batch, last"
            " reconcile and the repairs it made); null if it has reported nothing."
        )
    )
    alive: bool = Field(description="Whether a live leader runs it (running, idle, backing_off).")
    summary: str = Field(description="What the service does.")
    listen: str | None = Field(description="The NOTIFY channel that wakes it early, if any.")
    declared: bool = Field(
        description="Declared by this server's code (false: only by a live leader's code)."
    )
    last_leader: str | None = Field(description="The instance that led it most recently.")
    leader_since: Timestamp | None
    failures: int = Field(description="Steps that failed, in total.")
    consecutive_failures: int = Field(description="Steps that failed since the last success.")
    last_error_type: str | None
    last_error_message: str | None
    last_error_at: Timestamp | None
    last_started_at: Timestamp | None
    last_finished_at: Timestamp | None
    last_duration_s: float | None
    next_run_at: Timestamp | None = Field(
        description="When the leader plans the next step (a wake-up may come sooner)."
    )
    heartbeat_at: Timestamp | None = Field(description="When the leader last reported.")

    @classmethod
    def of(cls, status: ServiceStatus) -> BackgroundService:
        return cls(
            name=status.name,
            state=status.state,
            leader=status.leader,
            interval_s=status.interval_s,
            last_success=status.last_success,
            last_error=status.last_error,
            runs=status.runs,
            lag_rows=status.lag_rows,
            lag_s=status.lag_s,
            details=status.details,
            alive=status.state in service_status.LIVE_STATES,
            summary=status.summary,
            listen=status.listen,
            declared=status.declared,
            last_leader=status.last_leader,
            leader_since=status.leader_since,
            failures=status.failures,
            consecutive_failures=status.consecutive_failures,
            last_error_type=status.last_error_type,
            last_error_message=status.last_error_message,
            last_error_at=status.last_error_at,
            last_started_at=status.last_started_at,
            last_finished_at=status.last_finished_at,
            last_duration_s=status.last_duration_s,
            next_run_at=status.next_run_at,
            heartbeat_at=status.heartbeat_at,
        )


class BackgroundServiceDetail(BackgroundService):
    last_error_traceback: str | None = Field(description="The last failed step's traceback.")

    @classmethod
    def of(cls, status: ServiceStatus) -> BackgroundServiceDetail:
        listed = dict(BackgroundService.of(status))
        return cls(**listed, last_error_traceback=status.last_error_traceback)


class WakeAccepted(BaseModel):
    name: str
    leader: str | None = Field(
        description="The instance asked to run the step; null: no live leader, the next one"
        " runs a step when it takes over and its interval is due."
    )


@router.get(
    "/background-services",
    response_model=list[BackgroundService],
    summary="List the background services with their leader and status",
)
async def list_background_services(runtime: RuntimeDep) -> list[BackgroundService]:
    async with runtime.work.pool.connection() as conn:
        statuses = await service_status.read_statuses(conn, runtime.work.services)
    return [BackgroundService.of(s) for s in statuses]


@router.get(
    "/background-services/{name}",
    response_model=BackgroundServiceDetail,
    summary="One background service, with the traceback of its last error",
    responses={404: {"description": "No such service"}},
)
async def get_background_service(name: str, runtime: RuntimeDep) -> BackgroundServiceDetail:
    async with runtime.work.pool.connection() as conn:
        found = await service_status.read_status(conn, name, runtime.work.services)
    return BackgroundServiceDetail.of(found)


@router.post(
    "/background-services/{name}/wake",
    response_model=WakeAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask the service's leader to run a step now",
    responses={404: {"description": "No such service"}},
)
async def wake_background_service(name: str, runtime: RuntimeDep) -> WakeAccepted:
    async with runtime.work.pool.connection() as conn:
        found = await service_status.read_status(conn, name, runtime.work.services)
        async with conn.transaction():
            await service_status.request_wake(conn, name)
    return WakeAccepted(name=name, leader=found.leader)
