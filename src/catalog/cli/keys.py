"""`catalog keys ...`: create, list and revoke the API keys that open the management API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import psycopg
import typer

from catalog import bootstrap
from catalog.api.access import Role
from catalog.cli import runner
from catalog.domain.errors import DomainError
from catalog.settings import Settings
from catalog.store import access_keys
from catalog.store import migrate as migrations

app = typer.Typer(help="Manage API keys (roles: viewer, operator, admin).", no_args_is_help=True)

T = TypeVar("T")


def _run(action: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    settings = Settings()
    runner.configure_logging("WARNING")
    with bootstrap.database(settings) as url:
        migrations.upgrade(url)

        async def main() -> T:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                return await action(conn)  # committed when the block ends without error

        try:
            return asyncio.run(main())
        except DomainError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(1) from None


@app.command()
def create(
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. ci or alice.")],
    role: Annotated[Role, typer.Option(help="viewer reads; operator acts; admin also edits.")],
) -> None:
    """Create a key and print it once: it is stored hashed and cannot be shown again."""
    created = _run(lambda conn: access_keys.create(conn, name=name, role=role.value))
    typer.echo(created.secret)
    typer.echo(
        f"created {created.key.role} key {created.key.name!r} (id {created.key.id});"
        " keep it now, it is not shown again",
        err=True,
    )


@app.command("list")
def list_keys(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """The keys (never their secrets): id, prefix, role, name, created, revoked."""
    keys = _run(lambda conn: access_keys.list_keys(conn, include_revoked=all_))
    if not keys:
        typer.echo("no API keys: only this machine may use the management API and dashboard")
        return
    for key in keys:
        revoked = f"  revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        typer.echo(
            f"{key.id:>5}  {key.prefix}…  {key.role:<8}  {key.name:<24}"
            f"  created {key.created_at:%Y-%m-%d %H:%M}{revoked}"
        )


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="The key's name, id or shown prefix.")],
) -> None:
    """Revoke a key: every process refuses it from the next request on."""
    revoked = _run(lambda conn: access_keys.revoke(conn, key))
    typer.echo(f"revoked {revoked.role} key {revoked.name!r} (id {revoked.id})")
