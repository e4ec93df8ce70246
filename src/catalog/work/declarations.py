"""Declaring background work: jobs and services with their whole policy, on a `WorkRegistry`.

    registry = WorkRegistry()

    @registry.job("weekly-inventory-report", queue=Queue.REPORTS, retry=TWO_RETRIES,
                  lock="weekly-inventory-report", timeout_s=900, schedule=Schedule("0 8 * * 1"))
    async def weekly_inventory_report(ctx: JobContext, *, scheduled_at: datetime) -> str: ...

    @registry.service("search-sync", interval_s=1800, listen=CHANNEL, step_timeout_s=60)
    async def search_sync(ctx: ServiceContext) -> None: ...

Declaring touches nothing: no connection, no settings. `registries_in` finds the registries of
a package's modules (bootstrap loads `catalog.jobs` that way); `WorkEngine` turns registries
into a Procrastinate app when a process opens its resources.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from catalog.work.policy import DEFAULT_CRASH_BUDGET, JobPolicy, Overlap, Queue, RetryPolicy
from catalog.work.schedules.timing import Misfire, Schedule

if TYPE_CHECKING:
    from catalog.settings import Settings

__all__ = [
    "DEFAULT_SERVICE_BACKOFF",
    "DEFAULT_STEP_TIMEOUT_S",
    "JobDefinition",
    "Misfire",
    "Schedule",
    "ServiceDefinition",
    "WorkRegistry",
    "registries_in",
    "registry_at",
]

JobFunc = Callable[..., Awaitable[Any]]
ServiceStep = Callable[..., Awaitable[None]]

# A service's policy when its declaration says nothing else.
DEFAULT_SERVICE_BACKOFF = RetryPolicy(backoff_s=1.0, max_backoff_s=300.0, jitter=0.25)
DEFAULT_STEP_TIMEOUT_S = 600.0  # a step still running after this is cancelled, as a failure


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    name: str
    func: JobFunc
    policy: JobPolicy
    summary: str
    # The default schedule; the recurring job's id is the job's name.
    schedule: Schedule | None = None


@dataclasses.dataclass(frozen=True)
class ServiceDefinition:
    """An always-on loop: `step(ctx)` runs every `interval_s`, or sooner on a NOTIFY."""

    name: str
    step: ServiceStep
    interval_s: float
    listen: str | None  # a PostgreSQL NOTIFY channel that wakes the loop early
    summary: str
    backoff: RetryPolicy = DEFAULT_SERVICE_BACKOFF  # the wait after failed steps
    step_timeout_s: float | None = DEFAULT_STEP_TIMEOUT_S  # None: a step may run forever
    # Whether the service exists under the given settings (None: always), e.g. only when the
    # broker it feeds is configured. A service it rules out is neither run nor listed.
    enabled_when: Callable[[Settings], bool] | None = None

    def enabled(self, settings: Settings) -> bool:
        return self.enabled_when is None or self.enabled_when(settings)


def _summary(func: Callable[..., Any]) -> str:
    return (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""


class WorkRegistry:
    """The job and service declarations of one module; connection-free, safe at import."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobDefinition] = {}
        self.services: dict[str, ServiceDefinition] = {}

    def job(
        self,
        name: str,
        *,
        queue: str = Queue.DEFAULT,
        retry: RetryPolicy | None = None,
        lock: str | None = None,
        overlap: Overlap = Overlap.WAIT,
        timeout_s: float | None = None,
        priority: int = 0,
        crash_budget: int = DEFAULT_CRASH_BUDGET,
        schedule: Schedule | None = None,
    ) -> Callable[[JobFunc], JobFunc]:
        """Declare a job; with `schedule`, also a recurring job whose id is `name`."""
        policy = JobPolicy(
            queue=queue,
            retry=retry or RetryPolicy(),
            lock=lock,
            overlap=overlap,
            timeout_s=timeout_s,
            priority=priority,
            crash_budget=crash_budget,
        )

        def register(func: JobFunc) -> JobFunc:
            if name in self.jobs:
                raise ValueError(f"job {name!r} is declared twice")
            self.jobs[name] = JobDefinition(name, func, policy, _summary(func), schedule)
            return func

        return register

    def service(
        self,
        name: str,
        *,
        interval_s: float,
        listen: str | None = None,
        backoff: RetryPolicy = DEFAULT_SERVICE_BACKOFF,
        step_timeout_s: float | None = DEFAULT_STEP_TIMEOUT_S,
        enabled_when: Callable[[Settings], bool] | None = None,
    ) -> Callable[[ServiceStep], ServiceStep]:
        """Declare a background service; exactly one instance runs it at a time.

        With `enabled_when`, the service exists only in processes whose settings satisfy it.
        """
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if step_timeout_s is not None and step_timeout_s <= 0:
            raise ValueError("step_timeout_s must be positive (or None: no timeout)")

        def register(step: ServiceStep) -> ServiceStep:
            if name in self.services:
                raise ValueError(f"service {name!r} is declared twice")
            self.services[name] = ServiceDefinition(
                name=name,
                step=step,
                interval_s=interval_s,
                listen=listen,
                summary=_summary(step),
                backoff=backoff,
                step_timeout_s=step_timeout_s,
                enabled_when=enabled_when,
            )
            return step

        return register


def registries_in(package: str) -> list[WorkRegistry]:
    """The module-level `registry` of every module of `package`, in module name order.

    A module without one is skipped; a `registry` that is not a `WorkRegistry` is an error.
    """
    found: list[WorkRegistry] = []
    parent = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(parent.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        registry = getattr(module, "registry", None)
        if registry is None:
            continue
        if not isinstance(registry, WorkRegistry):
            raise TypeError(f"{package}.{info.name}.registry is not a WorkRegistry")
        found.append(registry)
    return found


def registry_at(spec: str) -> WorkRegistry:
    """The registry named by "module:attribute" (attribute `registry` if left out)."""
    module_name, _, attribute = spec.partition(":")
    registry = getattr(importlib.import_module(module_name), attribute or "registry")
    if not isinstance(registry, WorkRegistry):
        raise TypeError(f"{spec} is not a WorkRegistry")
    return registry
