"""Background services: always-on loops, each run by exactly one instance at a time.

    context     what a step is handed (`ServiceContext`): resources, trigger, lag, stop
    leadership  the dedicated connection holding the locks, and the leader's status writes
    runner      competes for every declared service; listens for wake-ups
    loop        one led service: wait, step (with its timeout), record, back off
    status      what the API and dashboard show (`read_statuses`), and operators' wake-ups

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

Policy, declared with each service (`WorkRegistry.service`): `interval_s`, `listen` (a NOTIFY
channel that wakes it early), `backoff` (a `RetryPolicy` for the wait after failed steps),
and `step_timeout_s` (a step past it is cancelled and recorded as failed; the loop goes on).
A step reports its lag in rows and/or seconds (`ServiceContext.set_lag`); the status keeps both.

Status (table work_services), `state`:

    running      the leader is executing a step
    idle         the leader waits for the next interval or a wake-up
    backing_off  the last step failed; the leader waits before retrying
    stopped      no instance leads it: its last leader shut down, or none has run it yet
    stale        (derived on read, never stored) the row names a leader, but that leader no
                 longer holds the lock or its heartbeat is older than STALE_AFTER_S: it died
                 or was cut off, and no other instance has taken over yet
"""
