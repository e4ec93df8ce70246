"""`catalog keys create|list|revoke` against a real database."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from catalog.cli.main import app
from catalog.store import access_keys


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    return CliRunner()


def test_a_key_is_printed_once_listed_without_its_secret_and_revoked(
    cli: CliRunner, database_url: str
) -> None:
    created = cli.invoke(app, ["keys", "create", "--role", "operator", "--name", "ci"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith(access_keys.KEY_PREFIX)
    with psycopg.connect(database_url) as conn:
        (role,) = conn.execute(
            "SELECT role FROM access_keys WHERE key_hash = %s", (access_keys.hash_secret(secret),)
        ).fetchone() or (None,)
    assert role == "operator"

    listed = cli.invoke(app, ["keys", "list"])
    assert "ci" in listed.stdout and "operator" in listed.stdout
    assert secret not in listed.stdout

    revoked = cli.invoke(app, ["keys", "revoke", "ci"])
    assert revoked.exit_code == 0, revoked.output
    assert "no API keys" in cli.invoke(app, ["keys", "list"]).stdout
    assert "ci" in cli.invoke(app, ["keys", "list", "--all"]).stdout


def test_bad_roles_and_unknown_keys_are_clear_errors(cli: CliRunner) -> None:
    bad_role = cli.invoke(app, ["keys", "create", "--role", "root", "--name", "x"])
    assert bad_role.exit_code == 2
    unknown = cli.invoke(app, ["keys", "revoke", "nobody"])
    assert unknown.exit_code == 1
    assert "no active API key 'nobody'" in unknown.output
