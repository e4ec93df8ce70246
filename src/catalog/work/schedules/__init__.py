"""Recurring schedules: what fires when, stored in PostgreSQL, fired once per slot cluster-wide.

    timing     `Schedule` (cron, tz, misfire, enabled), operators' `Change`, defaults
    cron       cron arithmetic in an IANA time zone, DST-correct
    storage    `work_schedules`: reading, the start-up sync, operators' changes
    slots      `work_schedule_slots`: claiming, enqueueing, missed slots, triggers, history
    views      what the API and dashboard show of a schedule
    scheduler  the loop every worker runs: fires each due slot exactly once among them all

Errors:

    InvalidInput
    ├── InvalidSchedule   a change or an override that breaks the rules (timing)
    ├── InvalidCron       (cron)
    └── InvalidTimeZone   (cron)
    NotFound
    └── ScheduleNotFound  (storage)
    Conflict
    ├── ScheduleOrphaned  its job is no longer declared (slots)
    └── AlreadyRunning    trigger of an overlap=SKIP job whose previous run is not finished (slots)
"""
