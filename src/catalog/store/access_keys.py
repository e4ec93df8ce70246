"""API keys: create, list, revoke, and look one up per request (SQL in one place).

Only a key's SHA-256 is stored. Lookups read the table on every request, so a revoked key
stops working at once on every process, with no cache to invalidate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from catalog.domain.errors import Conflict, InvalidInput, NotFound

KEY_PREFIX = "cat_"
KEY_RANDOM_BYTES = 32
SHOWN_PREFIX_CHARS = 12
NAME_MAX_CHARS = 100
ROLES = ("viewer", "operator", "admin")


class KeyNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no active API key {ref!r}")


@dataclasses.dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclasses.dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once, never stored


@dataclasses.dataclass(frozen=True)
class Lookup:
    """The active key a request presented (if any), and whether any active key exists."""

    key: ApiKey | None
    any_active: bool


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(**{field.name: row[field.name] for field in dataclasses.fields(ApiKey)})


_COLUMNS = "id, name, role, prefix, created_at, revoked_at"
_INSERT = (
    "INSERT INTO access_keys (name, role, prefix, key_hash) VALUES (%s, %s, %s, %s)"
    " RETURNING id, name, role, prefix, created_at, revoked_at"
)
_REVOKE = (
    "UPDATE access_keys SET revoked_at = now()"
    " WHERE revoked_at IS NULL AND (name = %s OR prefix = %s OR id = %s)"
    " RETURNING id, name, role, prefix, created_at, revoked_at"
)


async def create(conn: psycopg.AsyncConnection[Any], *, name: str, role: str) -> CreatedKey:
    """A new key with `role`; its secret is returned once. Names of active keys are unique."""
    name = name.strip()
    if not 0 < len(name) <= NAME_MAX_CHARS:
        raise InvalidInput(f"a key's name has 1 to {NAME_MAX_CHARS} characters")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    secret = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    cur = conn.cursor(row_factory=dict_row)
    try:
        async with conn.transaction():  # a savepoint: a clash leaves the caller's work intact
            await cur.execute(
                _INSERT,
                (name, role, secret[:SHOWN_PREFIX_CHARS], hash_secret(secret)),
            )
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"an active key named {name!r} exists; revoke it first") from None
    row = await cur.fetchone()
    assert row is not None
    return CreatedKey(key=_key(row), secret=secret)


async def list_keys(
    conn: psycopg.AsyncConnection[Any], *, include_revoked: bool = False
) -> list[ApiKey]:
    cur = conn.cursor(row_factory=dict_row)
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    await cur.execute(f"SELECT {_COLUMNS} FROM access_keys {where} ORDER BY id")  # noqa: S608
    return [_key(row) for row in await cur.fetchall()]


async def revoke(conn: psycopg.AsyncConnection[Any], ref: str) -> ApiKey:
    """Revoke the active key named `ref`, or whose id or shown prefix is `ref`."""
    cur = conn.cursor(row_factory=dict_row)
    key_id = int(ref) if ref.isascii() and ref.isdigit() else None
    await cur.execute(
        _REVOKE,
        (ref, ref, key_id),
    )
    rows = await cur.fetchall()
    if not rows:
        raise KeyNotFound(ref)
    return _key(rows[0])


async def lookup(
    conn: psycopg.AsyncConnection[Any], *, secret: str | None = None, key_id: int | None = None
) -> Lookup:
    """The active key with this secret (or id), and whether any active key exists: one query."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"""
        SELECT {", ".join("k." + c.strip() for c in _COLUMNS.split(","))},
               EXISTS (SELECT 1 FROM access_keys WHERE revoked_at IS NULL) AS any_active
          FROM (SELECT 1) one
          LEFT JOIN access_keys k
                 ON k.revoked_at IS NULL AND (k.key_hash = %s OR k.id = %s)
        """,  # noqa: S608 - constant columns
        (hash_secret(secret) if secret is not None else None, key_id),
    )
    row = await cur.fetchone()
    assert row is not None
    key = _key(row) if row["id"] is not None else None
    return Lookup(key=key, any_active=row["any_active"])


async def session_secret(conn: psycopg.AsyncConnection[Any]) -> str:
    """The secret every process signs dashboard sessions with (made by the migration)."""
    cur = await conn.execute("SELECT value FROM access_secrets WHERE name = 'session'")
    row = await cur.fetchone()
    assert row is not None, "migration 0014 makes the session secret"
    return str(row[0])
