"""The rules of background services that need no database: backoff, state, first step."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from catalog.store.changelog import Lag
from catalog.work.declarations import DEFAULT_SERVICE_BACKOFF, WorkRegistry
from catalog.work.policy import RetryPolicy
from catalog.work.services.context import (
    ReportedLag,
    ServiceContext,
    ServiceStopping,
    Trigger,
)
from catalog.work.services.loop import first_step_delay_s
from catalog.work.services.status import STALE_AFTER_S, ServiceState, derive_state


class _NoJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


def step_backoff_s(failures: int, *, rng: random.Random) -> float:
    return DEFAULT_SERVICE_BACKOFF.delay_s(failures, rng=rng)


def test_default_backoff_doubles_from_one_second_after_each_failure_in_a_row() -> None:
    delays = [step_backoff_s(n, rng=_NoJitter()) for n in range(1, 6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_default_backoff_is_capped() -> None:
    assert step_backoff_s(50, rng=_NoJitter()) == DEFAULT_SERVICE_BACKOFF.max_backoff_s


def test_default_backoff_jitter_stays_within_its_fraction() -> None:
    rng = random.Random(7)
    for failures in (1, 3, 20):
        base = step_backoff_s(failures, rng=_NoJitter())
        spread = base * DEFAULT_SERVICE_BACKOFF.jitter
        delays = [step_backoff_s(failures, rng=rng) for _ in range(200)]
        assert all(base - spread <= d <= base + spread for d in delays)
        assert len(set(delays)) > 100  # spread out, so failing instances do not retry in step


@pytest.mark.parametrize("stored", [ServiceState.RUNNING, ServiceState.IDLE, "backing_off"])
def test_a_live_state_stands_while_the_lock_is_held_and_the_heartbeat_fresh(stored: Any) -> None:
    state = ServiceState(stored)
    assert derive_state(state, lock_held=True, heartbeat_age_s=1.0) is state


@pytest.mark.parametrize("stored", [ServiceState.RUNNING, ServiceState.IDLE, "backing_off"])
def test_a_live_state_without_its_lock_is_stale(stored: Any) -> None:
    state = ServiceState(stored)
    assert derive_state(state, lock_held=False, heartbeat_age_s=0.5) is ServiceState.STALE


def test_a_live_state_with_an_old_heartbeat_is_stale() -> None:
    old = STALE_AFTER_S + 0.1
    assert derive_state(ServiceState.IDLE, lock_held=True, heartbeat_age_s=old) == "stale"
    assert derive_state(ServiceState.IDLE, lock_held=True, heartbeat_age_s=None) == "stale"
    assert (
        derive_state(ServiceState.IDLE, lock_held=True, heartbeat_age_s=30, stale_after_s=60)
        == "idle"
    )


def test_stopped_stays_stopped_whatever_the_heartbeat() -> None:
    for lock_held, age in [(False, None), (False, 999.0), (True, 0.1)]:
        state = derive_state(ServiceState.STOPPED, lock_held=lock_held, heartbeat_age_s=age)
        assert state is ServiceState.STOPPED


def test_a_new_leader_keeps_to_the_interval_of_the_last_step() -> None:
    assert first_step_delay_s(interval_s=60, since_last_start_s=45, listens=False) == 15
    assert first_step_delay_s(interval_s=60, since_last_start_s=75, listens=False) == 0
    assert first_step_delay_s(interval_s=60, since_last_start_s=None, listens=False) == 0


def test_a_new_leader_of_a_listening_service_steps_at_once() -> None:
    # NOTIFYs sent while nobody led it are lost: catch up at once.
    assert first_step_delay_s(interval_s=60, since_last_start_s=1, listens=True) == 0


def test_a_service_declares_its_whole_policy() -> None:
    registry = WorkRegistry()
    backoff = RetryPolicy(backoff_s=5, max_backoff_s=60)

    @registry.service(
        "search-sync",
        interval_s=1800,
        listen="catalog_change_log",
        backoff=backoff,
        step_timeout_s=60,
    )
    async def search_sync(ctx: ServiceContext) -> None:
        """Keep the index equal to the database."""

    declared = registry.services["search-sync"]
    assert (declared.interval_s, declared.listen, declared.backoff) == (
        1800,
        "catalog_change_log",
        backoff,
    )
    assert declared.step_timeout_s == 60
    assert declared.summary == "Keep the index equal to the database."


@pytest.mark.parametrize("timeout_s", [0, -1])
def test_a_step_timeout_must_be_positive(timeout_s: float) -> None:
    with pytest.raises(ValueError, match="step_timeout_s"):
        WorkRegistry().service("x", interval_s=1, step_timeout_s=timeout_s)


def _context(stopping: bool = False) -> ServiceContext:
    return ServiceContext(
        resources=None,  # type: ignore[arg-type]
        name="search-sync",
        instance="host:1",
        trigger=Trigger.INTERVAL,
        interval_s=1.0,
        log=logging.getLogger("test"),
        _should_stop=lambda: stopping,
    )


def test_lag_is_reported_in_rows_seconds_or_both() -> None:
    ctx = _context()
    assert ctx.lag is None
    ctx.set_lag(rows=12, seconds=2.5)
    assert ctx.lag == ReportedLag(rows=12, seconds=2.5)
    ctx.set_lag(rows=0)
    assert ctx.lag == ReportedLag(rows=0, seconds=None)  # replaced: the seconds are unknown now
    ctx.set_lag(seconds=3)
    assert ctx.lag == ReportedLag(rows=None, seconds=3.0)
    assert ctx.lag is not None and isinstance(ctx.lag.seconds, float)
    ctx.set_lag(rows=2**63 - 1, seconds=0)
    assert ctx.lag == ReportedLag(rows=2**63 - 1, seconds=0.0)


def test_a_change_log_lag_is_reported_in_one_call() -> None:
    ctx = _context()
    ctx.set_lag(**Lag(rows=4, seconds=9.5, rows_capped=False).report())
    assert ctx.lag == ReportedLag(rows=4, seconds=9.5)


@pytest.mark.parametrize(
    "bad_rows", [-1, 1.0, 2.5, float("nan"), float("inf"), True, False, "3", 2**63]
)
def test_lag_rows_must_be_a_non_negative_int(bad_rows: Any) -> None:
    ctx = _context()
    ctx.set_lag(rows=5, seconds=1.0)
    with pytest.raises(ValueError, match="lag rows"):
        ctx.set_lag(rows=bad_rows, seconds=1.0)
    assert ctx.lag == ReportedLag(rows=5, seconds=1.0)  # a refused report changes nothing


@pytest.mark.parametrize(
    "bad_seconds", [-0.1, float("nan"), float("inf"), -float("inf"), True, "1"]
)
def test_lag_seconds_must_be_a_finite_non_negative_number(bad_seconds: Any) -> None:
    ctx = _context()
    with pytest.raises(ValueError, match="lag seconds"):
        ctx.set_lag(rows=1, seconds=bad_seconds)
    assert ctx.lag is None


def test_lag_without_any_unit_is_refused() -> None:
    ctx = _context()
    with pytest.raises(ValueError, match="rows, seconds or both"):
        ctx.set_lag()
    assert ctx.lag is None


def test_check_stop_raises_only_when_stopping() -> None:
    _context(stopping=False).check_stop()
    with pytest.raises(ServiceStopping):
        _context(stopping=True).check_stop()
    assert _context(stopping=True).should_stop()


def test_details_are_json_values_and_each_report_replaces_the_last() -> None:
    ctx = _context()
    assert ctx.details is None
    ctx.set_details(last_batch={"changes": 3}, repairs=0)
    ctx.set_details(repairs=2)
    assert ctx.details == {"repairs": 2}
    for bad in ({"at": object()}, {"x": float("nan")}, {"big": "x" * 5000}):
        with pytest.raises(ValueError, match="details"):
            ctx.set_details(**bad)
    assert ctx.details == {"repairs": 2}
