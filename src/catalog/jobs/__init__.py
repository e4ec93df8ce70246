"""The catalogue's jobs and services, each declared with its full policy beside its code."""

from __future__ import annotations

from catalog.work.engine import JobRegistry

registry = JobRegistry()
