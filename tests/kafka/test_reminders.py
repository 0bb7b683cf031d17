"""Reminders on the real broker: the REPORT_MISSING flags up on a day become one
``lienthong.v1.Reminder`` per unit owing, keyed by its agency id, on ``reminders``;
a restarted publisher repeats none of them; the next period's reminders add to them
(a report sent in the meantime clears its flag: it is not reminded of again); a batch
the broker took but the store did not track goes out again under the same ids."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaTimeoutError
from lienthong.v1 import reminders_pb2

from domain.clock import WARD_TIME
from projections.red_flags import missing_reports
from projections.views import caught_up
from services.app.clock import ward_today
from services.app.ledger import Actor, Ledger
from services.kafka.reminders import Reminders
from services.kafka.topics import REMINDERS, kafka_producer
from services.store.database import Database
from tests.commands import execute
from tests.kafka.processes import CliProcess
from tests.kafka.test_ingestion import database_url, wait_for

DEADLINE_S = 60.0
PLAN = "phuoc-binh-2026"


class Day:
    """The ward's day as the publisher reads it, moved by the test."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self) -> dt.date:
        return self.day


def records_on(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    count = sum(consumer.end_offsets(partitions).values())
    consumer.close()
    return count


def consume(bootstrap: str, topic: str, expected: int) -> list[tuple[str, reminders_pb2.Reminder]]:
    """(key, reminder) of the topic's records, once ``expected`` of them were read."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1000
    )
    found: list[tuple[str, reminders_pb2.Reminder]] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(found) < expected and time.monotonic() < deadline:
        found += [
            (record.key.decode(), reminders_pb2.Reminder.FromString(record.value))
            for record in consumer
        ]
    consumer.close()
    return found


def owed_on(store: Ledger, day: dt.date) -> set[tuple[str, str, str]]:
    """(item, period, unit) of every report owed on ``day``, as ListMissingReports lists them."""
    views = caught_up(store, ["red_flags"])
    return {(m["item"], m["period"], u) for m in missing_reports(views, day) for u in m["units"]}


def test_report_missing_becomes_a_reminder_per_unit_and_a_restart_repeats_none(
    store: Ledger, broker: tuple[Path, int, str], prefix: str
) -> None:
    bootstrap, topic = broker[2], prefix + REMINDERS
    day = Day(dt.date(2026, 1, 5))  # no report is due yet
    publisher = Reminders(store, kafka_producer(bootstrap), prefix, today=day)
    assert publisher.step() == 0
    assert records_on(bootstrap, topic) == 0

    day.day = dt.date(2026, 2, 10)  # January's reports were due on 7 February
    expected = owed_on(store, day.day)
    assert (f"{PLAN}/task/24", "2026-01", "phuoc-binh.health-post") in expected
    published = publisher.step()
    assert published == len(expected)
    records = consume(bootstrap, topic, published)
    assert {(r.subject, r.period, r.agency_id) for _, r in records} == expected
    assert len({r.reminder_id for _, r in records}) == len(records) == published
    for key, reminder in records:
        assert key == reminder.agency_id
        assert reminder.code == "REPORT_MISSING"
        assert reminder.due == "2026-02-07"
    health = next(
        r
        for _, r in records
        if r.subject == f"{PLAN}/task/24" and r.agency_id == "phuoc-binh.health-post"
    )
    assert health.text == (
        "Đề nghị phuoc-binh.health-post gửi báo cáo tháng 01/2026 về nhiệm vụ 24 của kế hoạch "
        f"{PLAN}: hạn nộp ngày 07/02/2026 đã qua mà chưa nhận được báo cáo."
    )
    assert health.flag_id == f"{PLAN}/task/24#REPORT_MISSING@2026-01@2026-02-08"

    # A restart (a new publisher, a new producer, the same store): nothing again.
    restarted = Reminders(store, kafka_producer(bootstrap), prefix, today=day)
    assert restarted.step() == 0
    assert records_on(bootstrap, topic) == published

    # The office sends task 3's January report late, on 20 February: that flag clears.
    office = Actor("phuoc-binh.vhxh", occurred_at=dt.datetime(2026, 2, 20, 9, tzinfo=WARD_TIME))
    task3 = f"{PLAN}/task/3"
    execute(
        store, "progress_reported", task3, office, {"percent": 20, "as_of": dt.date(2026, 1, 31)}
    )
    assert (task3, "2026-01", "phuoc-binh.vhxh") in expected

    # The next month's reports fall due: only those are added.
    day.day = dt.date(2026, 3, 10)
    later = owed_on(store, day.day)
    assert (task3, "2026-01", "phuoc-binh.vhxh") not in later
    assert (task3, "2026-02", "phuoc-binh.vhxh") in later
    added = restarted.step()
    assert added == len(later - expected) > 0
    every = consume(bootstrap, topic, published + added)
    assert len({r.reminder_id for _, r in every}) == len(every) == published + added
    assert {(r.subject, r.period, r.agency_id) for _, r in every} == expected | later


class FailingFlush:
    """A producer whose first flush fails after the records were handed over (the
    broker may have them; the publisher cannot know)."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = kafka_producer(bootstrap)
        self.failed = False

    def send(self, topic: str, **kwargs: object) -> object:
        return self.producer.send(topic, **kwargs)  # type: ignore[arg-type]

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout)
        if not self.failed:
            self.failed = True
            raise KafkaTimeoutError("flush timed out (simulated)")

    def close(self, timeout: float | None = None) -> None:
        self.producer.close(timeout)


def test_a_batch_published_but_not_tracked_is_sent_again_under_the_same_ids(
    store: Ledger, broker: tuple[Path, int, str], prefix: str
) -> None:
    bootstrap, topic = broker[2], prefix + REMINDERS
    day = Day(dt.date(2026, 2, 10))
    expected = owed_on(store, day.day)
    publisher = Reminders(store, FailingFlush(bootstrap), prefix, today=day)
    with pytest.raises(KafkaTimeoutError):
        publisher.step()
    assert publisher.sent() == set()  # nothing tracked
    assert publisher.step() == len(expected)  # so the same batch goes out again
    records = consume(bootstrap, topic, 2 * len(expected))
    assert len(records) == 2 * len(expected)
    ids = [r.reminder_id for _, r in records]
    assert len(set(ids)) == len(expected)  # each twice, under the same id: consumers dedupe
    assert publisher.sent() == set(ids)
    assert publisher.step(force=True) == 0


def test_the_reminders_process_publishes_what_is_owed_today_and_after_a_kill_nothing_again(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    bootstrap, topic = broker[2], prefix + REMINDERS
    expected = owed_on(store, ward_today())  # the process reads the ward's real day
    tracker = Reminders(store, kafka_producer(bootstrap), prefix)
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_KAFKA_BOOTSTRAP": bootstrap,
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_REMINDERS_SECONDS": "0.2",
    }
    log = tmp_path / "reminders.log"
    process = CliProcess("reminders", env, log)
    process.start()
    try:
        wait_for(lambda: len(tracker.sent()) == len(expected), "every reminder owed tracked")
        process.kill()
        before = passes(log)
        process.start()
        wait_for(lambda: passes(log) > before, "a pass of the restarted process")
    finally:
        process.stop()
    assert records_on(bootstrap, topic) == len(expected)
    records = consume(bootstrap, topic, len(expected))
    assert {(r.subject, r.period, r.agency_id) for _, r in records} == expected


def passes(log: Path) -> int:
    """How many passes the process logged (one after each start, then when the log or
    the day moves)."""
    return log.read_text(encoding="utf-8", errors="replace").count("reminders pass on")
