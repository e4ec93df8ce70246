"""`search-sync`: keep the search index in step with PostgreSQL (see `catalog.search.sync`).

Each step: build the first generation from PostgreSQL if none is live, then apply the change
log since the service's cursor (woken by the change-log NOTIFY, so a commit is searchable within
about a second), then, every `RECONCILE_EVERY_S` and on an operator's wake-up, reconcile the
index with PostgreSQL. The 5-second interval is the safety net for a missed NOTIFY and for a
change held back behind a long transaction. A new leader
reconciles on its first step. Status: lag in rows and seconds, and details with the last batch
and the last reconcile.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from catalog.search import rebuild, sync
from catalog.search.sync import BatchReport, ReconcileReport
from catalog.store import changelog
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import RetryPolicy
from catalog.work.services.context import ServiceContext, Trigger

registry = WorkRegistry()

# A NOTIFY wakes a step at once. This catches what no NOTIFY announces: a change that was held
# back behind a long transaction elsewhere on the server past HELD_BACK_MAX_S (its end sends
# nothing), or a missed NOTIFY. An idle step is two small queries.
SAFETY_INTERVAL_S = 5.0
RECONCILE_EVERY_S = 1800.0  # the original system's 30-minute sync, kept as a drift repair
BACKOFF = RetryPolicy(backoff_s=1.0, max_backoff_s=60.0, jitter=0.25)


@dataclass
class _LeaderState:
    """What this process remembers between the steps it leads."""

    last_batch: BatchReport | None = None
    last_reconcile: ReconcileReport | None = None
    reconciled_at: float | None = None  # monotonic


_states: dict[tuple[str, int], _LeaderState] = {}


def _state(ctx: ServiceContext) -> _LeaderState:
    key = (ctx.instance, id(ctx.resources))
    if ctx.trigger is Trigger.TAKEOVER:
        _states[key] = _LeaderState()
    return _states.setdefault(key, _LeaderState())


def _reconcile_due(ctx: ServiceContext, state: _LeaderState) -> bool:
    if ctx.trigger is Trigger.WAKE or state.reconciled_at is None:
        return True
    return time.monotonic() - state.reconciled_at >= RECONCILE_EVERY_S


@registry.service(
    "search-sync",
    interval_s=SAFETY_INTERVAL_S,
    listen=changelog.CHANNEL,
    backoff=BACKOFF,
    step_timeout_s=3600,
)
async def search_sync(ctx: ServiceContext) -> None:
    """Keep the search index in step with the catalogue: first build, change log, reconcile."""
    db, search = ctx.resources.db, ctx.resources.search
    state = _state(ctx)
    built = None
    try:
        if await search.live_generation() is None:
            built = await rebuild.rebuild(db, search, check_stop=ctx.check_stop)
            ctx.log.info("built the search index: %d documents", built.documents)
            state.reconciled_at = time.monotonic()  # it is PostgreSQL's as of now
        caught_up = await sync.catch_up(
            db,
            search,
            should_stop=ctx.should_stop,
            batch_size=ctx.resources.settings.search_sync_batch_size,
        )
        if caught_up.last_batch is not None:
            state.last_batch = caught_up.last_batch
        if not ctx.should_stop() and _reconcile_due(ctx, state):
            report = await sync.reconcile(db, search)
            state.last_reconcile, state.reconciled_at = report, time.monotonic()
            if report.repaired:
                ctx.log.warning(
                    "search reconcile repaired %d documents (missing %d, stale %d, extra %d)",
                    report.repaired,
                    report.missing,
                    report.stale,
                    report.extra,
                )
    finally:
        # Let go of the writer after every step: another process may lead the next one.
        live = await search.live_generation()
        if live is not None:
            await search.release(live)
        async with db.connect() as conn, conn.begin():
            with contextlib.suppress(changelog.ConsumerNotFound):
                ctx.set_lag(**(await changelog.lag(conn, sync.CONSUMER)).report())
        ctx.set_details(**_details(state, live, built))


def _details(
    state: _LeaderState, live: str | None, built: rebuild.RebuildReport | None
) -> dict[str, object]:
    batch, check = state.last_batch, state.last_reconcile
    details: dict[str, object] = {
        "generation": live,
        "last_batch": None
        if batch is None
        else {
            "size": batch.changes,
            "upserted": batch.upserted,
            "deleted": batch.deleted,
            "at": batch.at.isoformat(),
        },
        "last_reconcile": None
        if check is None
        else {
            "at": check.at.isoformat(),
            "checked": check.checked,
            "missing": check.missing,
            "stale": check.stale,
            "extra": check.extra,
            "repaired": check.repaired,
        },
    }
    if built is not None:
        details["built"] = {"generation": built.generation, "documents": built.documents}
    return details
