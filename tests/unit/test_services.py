"""The rules of background services that need no database: backoff, state, first step."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from catalog.work.declarations import DEFAULT_SERVICE_BACKOFF, LagUnit, WorkRegistry
from catalog.work.policy import RetryPolicy
from catalog.work.services.context import ServiceContext, ServiceStopping, Trigger
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
        lag_unit=LagUnit.SECONDS,
    )
    async def search_sync(ctx: ServiceContext) -> None:
        """Keep the index equal to the database."""

    declared = registry.services["search-sync"]
    assert (declared.interval_s, declared.listen, declared.backoff) == (
        1800,
        "catalog_change_log",
        backoff,
    )
    assert (declared.step_timeout_s, declared.lag_unit) == (60, LagUnit.SECONDS)
    assert declared.summary == "Keep the index equal to the database."


@pytest.mark.parametrize("timeout_s", [0, -1])
def test_a_step_timeout_must_be_positive(timeout_s: float) -> None:
    with pytest.raises(ValueError, match="step_timeout_s"):
        WorkRegistry().service("x", interval_s=1, step_timeout_s=timeout_s)


def _context(stopping: bool = False, *, lag_unit: LagUnit = LagUnit.ROWS) -> ServiceContext:
    return ServiceContext(
        resources=None,  # type: ignore[arg-type]
        name="search-sync",
        instance="host:1",
        trigger=Trigger.INTERVAL,
        interval_s=1.0,
        lag_unit=lag_unit,
        log=logging.getLogger("test"),
        _should_stop=lambda: stopping,
    )


def test_lag_is_a_finite_non_negative_number_in_the_declared_unit() -> None:
    ctx = _context()
    assert ctx.lag is None
    ctx.set_lag(rows=12)
    assert ctx.lag == 12.0
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            ctx.set_lag(rows=bad)  # type: ignore[arg-type]
    assert ctx.lag == 12.0
    timed = _context(lag_unit=LagUnit.SECONDS)
    timed.set_lag(seconds=2.5)
    assert timed.lag == 2.5


def test_lag_in_another_unit_than_declared_or_without_one_is_refused() -> None:
    ctx = _context(lag_unit=LagUnit.ROWS)
    with pytest.raises(ValueError, match="reports its lag in rows"):
        ctx.set_lag(seconds=3.0)
    with pytest.raises(ValueError, match="one unit"):
        ctx.set_lag()
    with pytest.raises(ValueError, match="one unit"):
        ctx.set_lag(rows=1, seconds=1.0)
    assert ctx.lag is None


def test_check_stop_raises_only_when_stopping() -> None:
    _context(stopping=False).check_stop()
    with pytest.raises(ServiceStopping):
        _context(stopping=True).check_stop()
    assert _context(stopping=True).should_stop()
