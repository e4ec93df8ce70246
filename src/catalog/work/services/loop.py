"""The loop of one led service: wait for a reason, run a step, record how it went.

A step runs every `interval_s` (measured from the previous step's start), sooner on a NOTIFY
on the service's `listen` channel (a burst of notifications becomes one step) or on an
operator's wake-up. After a failed step the next one waits for the service's `backoff`
(exponential, capped, jittered), the error recorded. A step still running `step_timeout_s`
after its start is cancelled and recorded as a failed step (`StepTimeout`); the loop goes on
and the instance keeps the lead. A new leader runs a step at once if the service listens for
NOTIFYs (some may have been sent while nobody listened) or its interval has passed since the
last step of any leader.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from catalog.work.declarations import ServiceDefinition
from catalog.work.resources import Resources
from catalog.work.services.context import ReportedLag, ServiceContext, ServiceStopping, Trigger
from catalog.work.services.leadership import LeadershipLost, LockSession

log = logging.getLogger(__name__)

WAKE_COALESCE_S = 0.1  # after a NOTIFY, wait this long so that a burst becomes one step


class StepTimeout(Exception):
    """A step ran past its service's `step_timeout_s` and was cancelled."""


def first_step_delay_s(
    *, interval_s: float, since_last_start_s: float | None, listens: bool
) -> float:
    """How long a new leader waits before its first step."""
    if listens or since_last_start_s is None:
        return 0.0
    return max(0.0, interval_s - since_last_start_s)


@dataclasses.dataclass
class Signals:
    """What wakes one service's loop early; set by the listener, whoever leads."""

    notified: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def clear(self) -> None:
        self.notified.clear()
        self.wake.clear()


class Term:
    """One instance's lead of one service: from taking its lock to giving it back."""

    def __init__(
        self,
        resources: Resources,
        session: LockSession,
        definition: ServiceDefinition,
        *,
        instance: str,
        signals: Signals,
        stop: asyncio.Event,
    ) -> None:
        self.resources = resources
        self.session = session
        self.definition = definition
        self.instance = instance
        self.signals = signals
        self.stop = stop
        self.lost = asyncio.Event()  # this lead is over at once: the lock is gone
        self.ctx: ServiceContext | None = None
        self.log = logging.getLogger(f"catalog.services.{definition.name}")
        self.task = asyncio.create_task(self._run(), name=f"service {definition.name}")

    def lag(self) -> ReportedLag | None:
        return self.ctx.lag if self.ctx is not None else None

    def leaving(self) -> bool:
        return self.stop.is_set() or self.lock_gone()

    def lock_gone(self) -> bool:
        return self.session.lost.is_set() or self.lost.is_set()

    async def _run(self) -> None:
        name = self.definition.name
        try:
            await self._lead()
        except LeadershipLost:
            self.lost.set()
        finally:
            if not self.lock_gone():
                try:
                    await self.session.resign(name)
                    log.info("service %s: %s stopped leading it", name, self.instance)
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
        log.info("service %s: %s took the lead", name, self.instance)
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
                resources=self.resources,
                name=name,
                instance=self.instance,
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
                    name, duration_s=duration_s, lag=ctx.lag, details=ctx.details, next_in_s=delay_s
                )
            else:
                assert isinstance(outcome, BaseException)
                failures += 1
                delay_s, due = definition.backoff.delay_s(failures), Trigger.RETRY
                log.warning(
                    "service %s: step failed (%d in a row); retrying in %.1f s",
                    name,
                    failures,
                    delay_s,
                    exc_info=outcome,
                )
                await session.record_failure(
                    name,
                    outcome,
                    duration_s=duration_s,
                    lag=ctx.lag,
                    details=ctx.details,
                    next_in_s=delay_s,
                )

    async def _next_trigger(
        self, delay_s: float, due: Trigger, *, backing_off: bool
    ) -> Trigger | None:
        """Wait for the next step's reason, or None once leaving."""
        hard = (self.stop, self.session.lost, self.lost)
        # While backing off, only an operator's wake-up cuts the wait: a NOTIFY is kept for later.
        early = (self.signals.wake,) if backing_off else (self.signals.wake, self.signals.notified)
        if delay_s > 0 and not any(event.is_set() for event in early):
            await wait_any(*hard, *early, timeout_s=delay_s)
        if self.leaving():
            return None
        trigger = due
        if self.signals.wake.is_set():
            trigger = Trigger.WAKE
        elif self.signals.notified.is_set() and not backing_off:
            trigger = Trigger.NOTIFY
            # Let the rest of a burst arrive: it becomes part of this step.
            await wait_any(*hard, timeout_s=WAKE_COALESCE_S)
            if self.leaving():
                return None
            if self.signals.wake.is_set():
                trigger = Trigger.WAKE  # an operator's wake-up in the meantime: cleared below
        # Cleared as the step starts, so that a signal arriving during the step runs another.
        self.signals.clear()
        return trigger

    async def _step(self, ctx: ServiceContext) -> BaseException | _Interrupted | None:
        """Run one step: None on success, its error on failure, or _INTERRUPTED."""

        async def run_step() -> None:
            await self.definition.step(ctx)

        timeout_s = self.definition.step_timeout_s
        step = asyncio.create_task(run_step(), name=f"step of {ctx.name}")
        timed_out = False
        try:
            await wait_any(self.stop, self.session.lost, self.lost, step, timeout_s=timeout_s)
            if not step.done() and not self.leaving():
                timed_out = True
                log.warning("service %s: step ran past %g s; cancelling it", ctx.name, timeout_s)
            elif not step.done() and not self.lock_gone():
                # Stopping gracefully: the step may finish within the grace (it is told through
                # ctx.should_stop), unless the lock goes meanwhile.
                grace_s = self.resources.settings.shutdown_grace_s
                await wait_any(self.session.lost, self.lost, step, timeout_s=grace_s)
                if not step.done():
                    log.warning("service %s: step cancelled after the grace", ctx.name)
            elif not step.done():
                log.warning("service %s: lock lost; cancelling the step", ctx.name)
        finally:
            if not step.done():
                step.cancel()
                await asyncio.wait({step})
        if timed_out and step.cancelled():
            return StepTimeout(f"step of {ctx.name} ran past its timeout of {timeout_s:g} s")
        if step.cancelled():
            return _INTERRUPTED
        error = step.exception()
        if isinstance(error, ServiceStopping) and self.leaving():
            return _INTERRUPTED
        return error


class _Interrupted:
    """A step that stopped because its instance is leaving: neither success nor failure."""


_INTERRUPTED = _Interrupted()


def log_term_end(term: Term) -> None:
    if term.task.done() and not term.task.cancelled() and term.task.exception() is not None:
        log.error(
            "service %s: its loop crashed", term.definition.name, exc_info=term.task.exception()
        )


async def wait_any(
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
