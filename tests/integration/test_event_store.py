"""The event store contract on a real PostgreSQL: what is saved reloads equal, writers
that race on one aggregate cannot both win, a batch is all or nothing, and the log
keeps one global order with explicit topics."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from domain.agency import Agency
from domain.context import Context
from domain.ids import agency_id, task_id
from domain.task import Task
from services.app.ledger import Ledger
from services.store.database import Database
from tests.fixtures.record_event_samples import scenario

WHEN = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def ctx(agency: str) -> Context:
    return Context(agency, WHEN, WHEN, "test", "m-1")


def new_task(key: str) -> Task:
    definition = {
        "lead": ["pb.health-post"],
        "text": "Liên thông dữ liệu",
        "deadline": "Quý I/2026",
    }
    return Task.assign(
        ctx("pb.vhxh"), id=task_id("pb", key), plan="pb", key=key, definition=definition
    )


def test_every_kind_of_event_saved_reloads_into_an_equal_aggregate(app: Ledger) -> None:
    events = list(scenario())
    app.recorder.insert_events([app.mapper.to_stored_event(e) for e in events])
    for originator_id in {e.originator_id for e in events}:
        replayed = None
        for event in (e for e in events if e.originator_id == originator_id):
            replayed = event.mutate(replayed)
        assert app.repository.get(originator_id) == replayed


def test_the_store_outlives_the_application_that_wrote_it(database: Database) -> None:
    writer = Ledger(env=database.eventsourcing_env())
    writer.save(new_task("1"))
    writer.close()
    reader = Ledger(env=database.eventsourcing_env())
    assert reader.repository.get(task_id("pb", "1")).definition["deadline"] == "Quý I/2026"
    reader.close()


def test_two_writers_of_one_aggregate_cannot_both_win(database: Database) -> None:
    first, second = (Ledger(env=database.eventsourcing_env()) for _ in range(2))
    first.save(new_task("1"))
    mine, theirs = (
        first.repository.get(task_id("pb", "1")),
        second.repository.get(task_id("pb", "1")),
    )
    mine.report_progress(ctx("pb.health-post"), percent=40, as_of=WHEN.date())
    theirs.report_progress(ctx("pb.health-post"), percent=60, as_of=WHEN.date())
    first.save(mine)
    with pytest.raises(IntegrityError):
        second.save(theirs)
    assert first.repository.get(task_id("pb", "1")).percent == 40
    first.close()
    second.close()


def test_a_batch_with_one_conflicting_aggregate_stores_nothing(app: Ledger) -> None:
    app.save(new_task("1"))
    stale = new_task("1")  # a second "version 1" of the same task
    fresh_agency = Agency.register(
        ctx("system"),
        id=agency_id("pb.police"),
        key="pb.police",
        profile={"ward": "pb", "name_vi": "Công an phường", "name_en": "Police", "kind": "police"},
    )
    before = app.recorder.max_notification_id()
    with pytest.raises(IntegrityError):
        app.save(fresh_agency, stale)
    assert app.recorder.max_notification_id() == before
    assert not app.exists(agency_id("pb.police"))


def test_the_log_keeps_one_global_order_under_explicit_topics(app: Ledger) -> None:
    for key in ("1", "2", "3"):
        app.save(new_task(key))
    notifications = app.recorder.select_notifications(1, 10)
    assert [n.id for n in notifications] == sorted(n.id for n in notifications)
    assert [n.originator_id for n in notifications] == [task_id("pb", k) for k in ("1", "2", "3")]
    assert {n.topic for n in notifications} == {"lienthong.task.Assigned"}


STARTING_TOGETHER = 8
ROOT = Path(__file__).resolve().parents[2]


def test_processes_starting_together_on_an_empty_database_all_get_their_tables(
    database: Database,
) -> None:
    """The children of full mode create the store's tables at the same moment: every one
    of them starts (none dies on PostgreSQL's catalog), and the store works after."""
    env = {**os.environ, "LEDGER_ENV": json.dumps(database.eventsourcing_env())}
    script = (
        "import json, os; from services.app.ledger import Ledger; "
        "Ledger(env=json.loads(os.environ['LEDGER_ENV'])).close()"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(STARTING_TOGETHER)
    ]
    failed = [
        err for child in children if (err := child.communicate(timeout=120)[1]) and child.returncode
    ]
    assert not failed, failed[0]
    app = Ledger(env=database.eventsourcing_env())
    try:
        assert app.recorder.max_notification_id() in (None, 0)
    finally:
        app.close()
