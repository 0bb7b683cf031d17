"""The embedded PostgreSQL's owners and watchdog: a killed server comes back while an
owner lives; the server stops once no owner is alive, even when owners were killed -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from services.store.database import (
    WATCHDOG_PID,
    Database,
    embedded_server,
    postmaster_alive,
    running,
)

DEADLINE_S = 60.0
OWNER = """
import signal, sys, threading
from pathlib import Path
from services.store.database import embedded_server
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with embedded_server(Path(sys.argv[1])):
    print("up", flush=True)
    threading.Event().wait()
"""


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def answers(database: Database) -> bool:
    try:
        with psycopg.connect(database.conninfo()) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Not under pytest's data_dir: another pytest run may delete that under a server."""
    with tempfile.TemporaryDirectory(prefix="lienthong-owners-") as folder:
        yield Path(folder)


@pytest.fixture
def owners(data_dir: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Owner processes of the server in ``data_dir`` (killed at the end if still alive)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for owner in started:
        owner.kill()
        owner.wait()


def start_owner(data_dir: Path, started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    started.append(owner)
    assert owner.stdout is not None
    assert owner.stdout.readline() == "up\n"
    return owner


def test_a_killed_server_comes_back_by_itself_while_an_owner_lives(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    with embedded_server(data_dir) as database:
        killed = postmaster_pid(pgdata)
        os.kill(killed, signal.SIGKILL)
        wait_until(
            lambda: postmaster_alive(pgdata) and postmaster_pid(pgdata) != killed, "a new server"
        )
        wait_until(lambda: answers(database), "the server to answer")
    assert not postmaster_alive(pgdata)


def watchdog_of(data_dir: Path) -> int:
    return int((data_dir / "pg" / WATCHDOG_PID).read_text())


def test_the_server_and_its_watchdog_stop_when_its_last_owner_is_killed_9(
    data_dir: Path, owners: list[subprocess.Popen[str]]
) -> None:
    owner = start_owner(data_dir, owners)
    assert postmaster_alive(data_dir / "pg")
    watchdog = watchdog_of(data_dir)
    owner.kill()
    owner.wait()
    wait_until(lambda: not postmaster_alive(data_dir / "pg"), "the server to stop")
    wait_until(lambda: not running(watchdog), "the watchdog to end")


def test_the_last_owner_to_leave_stops_the_server_though_another_was_killed_9(
    data_dir: Path, owners: list[subprocess.Popen[str]]
) -> None:
    killed, last = start_owner(data_dir, owners), start_owner(data_dir, owners)
    watchdog = watchdog_of(data_dir)
    killed.kill()
    killed.wait()
    last.terminate()
    assert last.wait(timeout=DEADLINE_S) == 0
    assert not postmaster_alive(data_dir / "pg")
    wait_until(lambda: not running(watchdog), "the watchdog to end")
