"""Management API: API keys (admin only): list, create (the secret is shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from catalog.api.access import Role
from catalog.api.deps import RuntimeDep
from catalog.api.timestamps import Timestamp
from catalog.store import access_keys

router = APIRouter(prefix="/api/access", tags=["access"])

KeyRef = Annotated[
    str, Path(min_length=1, max_length=100, description="The key's name, id or shown prefix.")
]


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: Timestamp
    revoked_at: Timestamp | None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=access_keys.NAME_MAX_CHARS)
    role: Role


class CreatedKeyOut(KeyOut):
    key: str = Field(description="The secret: shown this once, stored only hashed.")


@router.get("/keys", summary="Active API keys (never their secrets)")
async def list_keys(rt: RuntimeDep) -> list[KeyOut]:
    async with rt.work.pool.connection() as conn:
        keys = await access_keys.list_keys(conn)
    return [KeyOut.model_validate(key) for key in keys]


@router.post(
    "/keys",
    summary="Create an API key; its secret is in this answer only",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "An active key has this name"}},
)
async def create_key(rt: RuntimeDep, body: KeyIn) -> CreatedKeyOut:
    async with rt.work.pool.connection() as conn:
        created = await access_keys.create(conn, name=body.name, role=body.role.value)
    return CreatedKeyOut(**KeyOut.model_validate(created.key).model_dump(), key=created.secret)


@router.delete(
    "/keys/{ref}",
    summary="Revoke an API key: every process refuses it from the next request on",
    responses={404: {"description": "No active key matches"}},
)
async def revoke_key(rt: RuntimeDep, ref: KeyRef) -> KeyOut:
    async with rt.work.pool.connection() as conn:
        revoked = await access_keys.revoke(conn, ref)
    return KeyOut.model_validate(revoked)
