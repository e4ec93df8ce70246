"""Mount the dashboard on the app: pages, actions, static assets, /hangfire redirect."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from catalog.dashboard import actions, catalogue_pages, pages, render, session


def install(app: FastAPI, *, login_attempts_per_min: int) -> None:
    app.state.login_limiter = session.LoginLimiter(login_attempts_per_min)
    app.include_router(pages.hangfire)
    app.include_router(actions.router)
    app.include_router(pages.router)
    app.include_router(catalogue_pages.router)
    app.mount(
        "/dashboard/static",
        StaticFiles(directory=render.HERE / "static"),
        name="dashboard-static",
    )
