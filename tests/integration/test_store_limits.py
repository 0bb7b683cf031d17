"""The store under rows as large as the edge allows and under stuck transactions: no
request can hold the events table's lock."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, TryAgainError, Verdict, submit
from services.store.database import Database, Timeouts
from services.store.recorder import events_table
from tests.conftest import PLANS, REGISTRY

PB = "phuoc-binh-2026"
DAY = dt.date(2026, 2, 10)
WHEN = dt.datetime(2026, 2, 10, 9, tzinfo=dt.timezone(dt.timedelta(hours=7)))
# A bound on a hang, not a timing assertion: the submission takes well under a second
# when it works, and forever when it does not.
HANG = 120


@pytest.fixture
def plans(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    return app


def report(note: str) -> Command:
    actor = Actor(agency="phuoc-binh.health-post", channel="test", occurred_at=WHEN)
    args = {"percent": 10, "as_of": DAY, "note": note}
    return Command(str(uuid.uuid4()), "progress_reported", f"{PB}/task/24", actor, args)


def submitted(app: Ledger, command: Command) -> Verdict:
    """``submit``, in a thread so that a hang fails the test instead of stopping it."""
    ended: list[Verdict | Exception] = []

    def attempt() -> None:
        try:
            ended.append(submit(app, command))
        except Exception as error:  # noqa: BLE001 - raised again below
            ended.append(error)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(HANG)
    assert ended, f"the submission did not end within {HANG} s: the store hangs"
    if isinstance(ended[0], Exception):
        raise ended[0]
    return ended[0]


@pytest.mark.parametrize("size", [512 * 1024, 1024 * 1024, 3 * 1024 * 1024])
def test_a_large_note_is_stored_and_the_next_writer_gets_the_lock(plans: Ledger, size: int) -> None:
    large = submitted(plans, report("n" * size))
    after = submitted(plans, report("small"))
    assert (large.outcome, after.outcome) == ("accepted", "accepted")
    assert after.position > large.position


def test_a_report_citing_a_thousand_evidence_references_is_stored(plans: Ledger) -> None:
    references = [
        {
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "uri": f"https://evidence.example.vn/{i}.pdf",
            "media_type": "application/pdf",
            "description": "biên bản",
        }
        for i in range(1000)
    ]
    cited = replace(report("with evidence"), evidence=references)
    assert submitted(plans, cited).outcome == "accepted"
    assert len(plans.item_status(f"{PB}/task/24")["evidence"]) == len(references)


def test_a_writer_gives_up_on_a_stuck_lock_holder_with_nothing_written(
    plans: Ledger, database: Database
) -> None:
    writer = Ledger(env=database.eventsourcing_env(timeouts=Timeouts(lock=1)))
    table = events_table(writer.recorder)  # type: ignore[arg-type]
    command = report("while the table is locked")
    try:
        with psycopg.connect(database.conninfo()) as stuck:  # a transaction that never ends
            stuck.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
            with pytest.raises(TryAgainError, match="locked"):
                submitted(writer, command)
    finally:
        writer.close()
    assert submit(plans, command).outcome == "accepted"  # not recorded by the first try


def test_every_store_connection_carries_the_three_timeouts(database: Database) -> None:
    app = Ledger(env=database.eventsourcing_env(timeouts=Timeouts(7, 8, 9)))
    try:
        with app.recorder.datastore.transaction() as cursor:  # type: ignore[attr-defined]
            names = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
            shown = []
            for name in names:
                cursor.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
                shown.append(cursor.fetchone()[name])
    finally:
        app.close()
    assert shown == ["7s", "8s", "9s"]
