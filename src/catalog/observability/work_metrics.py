"""Background-work metrics read from the database at scrape time.

Jobs, schedules and services are shared by every process, so the truth about them is in
PostgreSQL, not in any one process's counters: each scrape reads it afresh, and any process
answers the same. Job durations are a gauge histogram over the runs that finished in the
last `DURATION_WINDOW_MIN` minutes (the journal is pruned, so a cumulative one could shrink).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg.rows import dict_row

from catalog.domain.errors import InvalidInput
from catalog.work.declarations import ServiceDefinition
from catalog.work.schedules import cron, storage
from catalog.work.services import status as service_status

DURATION_WINDOW_MIN = 60
DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

_JOBS_BY_TASK_AND_STATE = """
    SELECT j.task_name AS task, j.queue_name AS queue, j.status::text AS status,
           (j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())) AS due,
           count(*)::bigint AS n
      FROM procrastinate_jobs j
     GROUP BY 1, 2, 3, 4
"""

_RUNS_BY_TASK_AND_OUTCOME = f"""
    SELECT j.task_name AS task, r.outcome, count(*)::bigint AS n,
           {
    ", ".join(
        f"count(*) FILTER (WHERE r.finished_at - r.started_at <= interval '{b} seconds')"
        f"::bigint AS le_{i}"
        for i, b in enumerate(DURATION_BUCKETS_S)
    )
},
           coalesce(sum(extract(epoch FROM r.finished_at - r.started_at)), 0)::float8 AS seconds
      FROM work_job_runs r JOIN procrastinate_jobs j ON j.id = r.job_id
     WHERE r.finished_at >= now() - make_interval(mins => %s)
     GROUP BY 1, 2
"""  # noqa: S608 - built from constants only

_CHANGE_LOG_LAG = """
    SELECT c.consumer,
           (SELECT count(*) FROM (SELECT 1 FROM change_log l
                                   WHERE (l.txid, l.id) > (c.txid::xid8, c.last_id)
                                   LIMIT 100001) unread)::bigint AS rows,
           coalesce(extract(epoch FROM clock_timestamp() - (
               SELECT l.at FROM change_log l WHERE (l.txid, l.id) > (c.txid::xid8, c.last_id)
                ORDER BY l.txid, l.id LIMIT 1)), 0)::float8 AS seconds
      FROM change_log_cursors c
"""

_WORKERS = """
    SELECT count(*)::bigint AS n FROM work_workers w
      JOIN procrastinate_workers p ON p.id = w.id
     WHERE p.last_heartbeat > now() - make_interval(secs => %s)
"""


async def collect(
    conn: psycopg.AsyncConnection[Any],
    *,
    services: Mapping[str, ServiceDefinition],
    worker_stalled_after_s: float,
) -> list[Metric]:
    """Every background-work metric family, read in one go."""
    cur = conn.cursor(row_factory=dict_row)
    families: list[Metric] = []

    jobs = GaugeMetricFamily(
        "catalog_jobs", "Jobs in the job table by task and status.", labels=["task", "status"]
    )
    depth = GaugeMetricFamily(
        "catalog_queue_depth", "Jobs due and waiting for a worker, per queue.", labels=["queue"]
    )
    await cur.execute(_JOBS_BY_TASK_AND_STATE)
    by_task: dict[tuple[str, str], int] = {}
    by_queue: dict[str, int] = {}
    for row in await cur.fetchall():
        key = (row["task"], row["status"])
        by_task[key] = by_task.get(key, 0) + row["n"]
        if row["due"]:
            by_queue[row["queue"]] = by_queue.get(row["queue"], 0) + row["n"]
    for (task, status), n in sorted(by_task.items()):
        jobs.add_metric([task, status], n)
    for queue, n in sorted(by_queue.items()):
        depth.add_metric([queue], n)
    families += [jobs, depth]

    runs = GaugeMetricFamily(
        "catalog_job_runs",
        f"Job runs finished in the last {DURATION_WINDOW_MIN} minutes, by task and outcome.",
        labels=["task", "outcome"],
    )
    durations = GaugeHistogramMetricFamily(
        "catalog_job_duration_seconds",
        f"Durations of job runs finished in the last {DURATION_WINDOW_MIN} minutes.",
        labels=["task"],
    )
    await cur.execute(_RUNS_BY_TASK_AND_OUTCOME, (DURATION_WINDOW_MIN,))
    per_task: dict[str, list[float]] = {}
    for row in await cur.fetchall():
        runs.add_metric([row["task"], row["outcome"]], row["n"])
        totals = per_task.setdefault(row["task"], [0.0] * (len(DURATION_BUCKETS_S) + 2))
        for i in range(len(DURATION_BUCKETS_S)):
            totals[i] += row[f"le_{i}"]
        totals[-2] += row["n"]
        totals[-1] += row["seconds"]
    for task, totals in sorted(per_task.items()):
        buckets = [(str(b), totals[i]) for i, b in enumerate(DURATION_BUCKETS_S)]
        buckets.append(("+Inf", totals[-2]))
        durations.add_metric([task], buckets, gsum_value=totals[-1])
    families += [runs, durations]

    families.append(await _schedule_lag(conn))
    families += await _services(conn, services)

    lag_rows = GaugeMetricFamily(
        "catalog_change_log_lag_rows", "Unread change-log rows per consumer.", labels=["consumer"]
    )
    lag_s = GaugeMetricFamily(
        "catalog_change_log_lag_seconds",
        "Age of the oldest unread change-log row per consumer.",
        labels=["consumer"],
    )
    await cur.execute(_CHANGE_LOG_LAG)
    for row in await cur.fetchall():
        lag_rows.add_metric([row["consumer"]], row["rows"])
        lag_s.add_metric([row["consumer"]], row["seconds"])
    families += [lag_rows, lag_s]

    await cur.execute(_WORKERS, (worker_stalled_after_s,))
    workers = await cur.fetchone()
    online = GaugeMetricFamily("catalog_workers_online", "Workers with a recent heartbeat.")
    online.add_metric([], workers["n"] if workers else 0)
    families.append(online)
    return families


async def _schedule_lag(conn: psycopg.AsyncConnection[Any]) -> Metric:
    """How overdue each active schedule's first unfired slot is (0 when none is due yet)."""
    family = GaugeMetricFamily(
        "catalog_schedule_lag_seconds",
        "Seconds since the schedule's oldest slot that is due but not fired yet.",
        labels=["schedule"],
    )
    now = datetime.now(UTC)
    for row in await storage.load_all(conn):
        if not row.active:
            continue
        try:
            expr, tz = row.current.parsed()
        except InvalidInput:
            continue
        due = cron.upcoming(expr, row.cursor, tz, count=1)[0]
        family.add_metric([row.id], max(0.0, (now - due).total_seconds()))
    return family


async def _services(
    conn: psycopg.AsyncConnection[Any], services: Mapping[str, ServiceDefinition]
) -> list[Metric]:
    up = GaugeMetricFamily(
        "catalog_service_up", "1 when a live leader runs the service.", labels=["service"]
    )
    lag_rows = GaugeMetricFamily(
        "catalog_service_lag_rows", "Rows the service has yet to handle.", labels=["service"]
    )
    lag_s = GaugeMetricFamily(
        "catalog_service_lag_seconds", "How far behind the service is.", labels=["service"]
    )
    failures = GaugeMetricFamily(
        "catalog_service_consecutive_failures",
        "Steps failed since the last success.",
        labels=["service"],
    )
    for status in await service_status.read_statuses(conn, services):
        up.add_metric([status.name], 1 if status.state in service_status.LIVE_STATES else 0)
        failures.add_metric([status.name], status.consecutive_failures)
        if status.lag_rows is not None:
            lag_rows.add_metric([status.name], status.lag_rows)
        if status.lag_s is not None:
            lag_s.add_metric([status.name], status.lag_s)
    return [up, lag_rows, lag_s, failures]


class Snapshot(Collector):
    """Metric families read already, for one exposition."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families
