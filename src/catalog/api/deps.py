"""FastAPI dependencies: the runtime and a transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.bootstrap import Runtime
from catalog.cache.cache_aside import Cache


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> AsyncIterator[AsyncSession]:
    """A session whose transaction the route commits; anything uncommitted is rolled back."""
    async with runtime.sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_cache(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Cache:
    return runtime.cache


CacheDep = Annotated[Cache, Depends(get_cache)]
