"""The `catalog` command.

main      the command itself: serve, api, worker, migrate, seed (and `jobs` below)
jobs      `catalog jobs ...`: the management API's job operations, from the shell
runner    runs the long-lived processes (API server, background work) until a signal
"""

from catalog.cli.main import app, main

__all__ = ["app", "main"]
