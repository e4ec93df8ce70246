"""The engine room: jobs on Procrastinate, recurring schedules, background services, journal."""
