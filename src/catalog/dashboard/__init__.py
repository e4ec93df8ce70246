"""The operator's dashboard: server-rendered pages (Jinja2 + htmx) over the work read models."""
