"""Kafka → store → Kafka on a real broker and a real PostgreSQL: the ingest worker runs
as its own process (``lienthong ingest-worker``), as in production."""

from __future__ import annotations

import datetime as dt
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from kafka import KafkaConsumer, KafkaProducer
from lienthong.v1 import envelope_pb2, resources_pb2
from psycopg import sql

from domain.messages import vietnamese
from domain.submission import Submission
from services.app.ledger import Ledger
from services.kafka.relay import Relay
from services.kafka.topics import kafka_producer
from services.store.database import Database
from tests.identities import folder, signed
from tests.kafka.processes import CliProcess
from tests.kafka_broker import restart

PB = "phuoc-binh-2026"
DEADLINE_S = 180.0
POLL_S = 0.2
RECEIPTS = [Submission.Accepted.TOPIC, Submission.Rejected.TOPIC]
LEADS = {
    "3": "phuoc-binh.vhxh",
    "8": "phuoc-binh.ttpvhcc",
    "23": "phuoc-binh.ttpvhcc",
    "24": "phuoc-binh.health-post",
    "28": "phuoc-binh.police",
    "30": "phuoc-binh.ktht-dt",
}


def database_url(database: Database) -> str:
    if database.host.startswith("/"):
        return f"postgresql://{database.user}:{database.password}@/{database.dbname}?host={database.host}"
    return f"postgresql://{database.user}:{database.password}@{database.host}:{database.port}/{database.dbname}"


class Worker(CliProcess):
    """``lienthong ingest-worker`` in a process of its own, restartable, killable."""

    def __init__(self, database: Database, bootstrap: str, prefix: str, log: Path) -> None:
        env = {
            **os.environ,
            "LIENTHONG_DATABASE_URL": database_url(database),
            "LIENTHONG_KAFKA_BOOTSTRAP": bootstrap,
            "LIENTHONG_TOPIC_PREFIX": prefix,
            "LIENTHONG_INGEST_GROUP": f"{prefix}ingest",
            "LIENTHONG_TRUST_ANCHORS": str(folder() / "ca.pem"),
        }
        super().__init__("ingest-worker", env, log)


@pytest.fixture
def worker(
    database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> Iterator[Worker]:
    running = Worker(database, broker[2], prefix, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


def envelope(
    agency: str, task: str, percent: int, event_id: str = ""
) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=event_id or str(uuid.uuid4()), agency_id=agency, subject=f"{PB}/task/{task}"
    )
    message.occurred_at.FromDatetime(dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC))
    message.progress_reported.CopyFrom(
        envelope_pb2.ProgressReported(percent=percent, as_of="2026-03-02")
    )
    return signed(message)


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=60)
    producer.close()


def keyed(message: envelope_pb2.AgencyEventEnvelope) -> tuple[bytes, bytes]:
    return message.subject.encode(), message.SerializeToString()


class Receipt:
    """The receipt event of one submission, read straight from the log."""

    def __init__(self, event: object) -> None:
        self.event_id: str = event.event_id  # type: ignore[attr-defined]
        self.outcome = "accepted" if isinstance(event, Submission.Accepted) else "rejected"
        self.reason_code: str = getattr(event, "reason_code", "")


def receipts(app: Ledger) -> list[Receipt]:
    found: list[Receipt] = []
    start = 1
    while batch := app.recorder.select_notifications(start, 5000, topics=RECEIPTS):
        found.extend(Receipt(app.mapper.to_domain_event(n)) for n in batch)
        start = batch[-1].id + 1
    return found


def receipt_count(app: Ledger) -> int:
    """How many receipts the store holds (counted in SQL, cheap enough to poll)."""
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    query = sql.SQL("SELECT count(*) AS n FROM {} WHERE topic = ANY(%s)").format(
        sql.Identifier(recorder.events_table_name)
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(query, (RECEIPTS,))
        row = cursor.fetchone()
    return int(row["n"]) if row else 0


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def consume(bootstrap: str, topic: str, count: int) -> list[object]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(DEADLINE_S * 1000),
    )
    records = []
    for record in consumer:
        records.append(record)
        if len(records) >= count:
            break
    consumer.close()
    return records


def test_envelopes_round_trip_through_the_store_and_the_outbound_topic(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    bootstrap = broker[2]
    sent = [
        envelope(LEADS[task], task, 10 * step) for step in range(1, 4) for task in ("24", "23", "8")
    ]
    produce(bootstrap, f"{prefix}agency-events", [keyed(m) for m in sent])
    wait_for(lambda: receipt_count(store) == len(sent), "a receipt per envelope")
    assert {r.event_id: r.outcome for r in receipts(store)} == {
        m.event_id: "accepted" for m in sent
    }
    assert store.item_status(f"{PB}/task/24")["percent"] == 30
    relay = Relay(store, kafka_producer(bootstrap), prefix)
    while relay.step():
        pass
    outbound = [
        resources_pb2.AuditEvent.FromString(r.value)
        for r in consume(
            bootstrap, f"{prefix}coordination-events", store.recorder.max_notification_id()
        )
    ]
    published = {e.message_id for e in outbound if e.topic == "lienthong.task.ProgressReported"}
    assert published == {m.event_id for m in sent}


def test_the_same_envelope_twice_is_stored_once(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    message = envelope("phuoc-binh.health-post", "24", 30)
    produce(
        broker[2],
        f"{prefix}agency-events",
        [keyed(message), keyed(message), keyed(envelope("phuoc-binh.health-post", "24", 40))],
    )
    wait_for(lambda: receipt_count(store) == 2, "two receipts")
    topics = [e["topic"] for e in store.events_of(f"{PB}/task/24")]
    assert topics.count("lienthong.task.ProgressReported") == 2
    assert store.item_status(f"{PB}/task/24")["percent"] == 40


def test_poison_in_the_middle_of_a_partition_is_rejected_and_the_rest_accepted(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    bootstrap = broker[2]
    key = f"{PB}/task/24".encode()
    good_before, good_after = (
        envelope("phuoc-binh.health-post", "24", 30),
        envelope("phuoc-binh.health-post", "24", 50),
    )
    unknown = envelope("phuoc-binh.health-post", "99", 10)
    stranger = envelope("phuoc-binh.vhxh", "24", 40)
    poison = b"\x00\xff\xfe not protobuf"
    produce(
        bootstrap,
        f"{prefix}agency-events",
        [
            keyed(good_before),
            (key, poison),
            (key, unknown.SerializeToString()),
            (key, stranger.SerializeToString()),
            keyed(good_after),
        ],
    )
    wait_for(lambda: receipt_count(store) == 5, "five receipts")
    outcomes = {r.event_id: (r.outcome, r.reason_code) for r in receipts(store)}
    assert outcomes[good_before.event_id] == outcomes[good_after.event_id] == ("accepted", "")
    assert (outcomes[unknown.event_id], outcomes[stranger.event_id]) == (
        ("rejected", "NOT_FOUND"),
        ("rejected", "NOT_LEAD_UNIT"),
    )
    assert sorted(code for outcome, code in outcomes.values() if outcome == "rejected") == [
        "NOT_FOUND",
        "NOT_LEAD_UNIT",
        "UNDECODABLE",
    ]
    relay = Relay(store, kafka_producer(bootstrap), prefix)
    while relay.step():
        pass
    copies = consume(bootstrap, f"{prefix}agency-events.rejected", 3)
    assert {c.value for c in copies} == {
        poison,
        unknown.SerializeToString(),
        stranger.SerializeToString(),
    }
    assert {dict(c.headers)["reason_code"] for c in copies} == {
        b"UNDECODABLE",
        b"NOT_FOUND",
        b"NOT_LEAD_UNIT",
    }
    # whoever reads a copy reads its refusal Vietnamese first, then the receipt's detail
    for copy in copies:
        headers = dict(copy.headers)
        said = vietnamese(headers["reason_code"].decode())
        assert headers["message"].decode().startswith(f"{said} — ")


def many_envelopes(count: int, seed: int) -> list[envelope_pb2.AgencyEventEnvelope]:
    """``count`` envelopes over several tasks (so several partitions), some refused."""
    rng = random.Random(seed)
    steps = dict.fromkeys(LEADS, 0)
    messages = []
    for _ in range(count):
        task = rng.choice(list(LEADS))
        steps[task] += 1
        agency = LEADS[task] if rng.random() > 0.02 else "phuoc-binh.youth-union"
        messages.append(envelope(agency, task, min(100, steps[task] // 40)))
    return messages


KILL_RUN = int(os.environ.get("LIENTHONG_KILL_RUN", "20000"))


def test_kill_9_of_the_worker_during_20000_envelopes_loses_and_doubles_nothing(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    sent = many_envelopes(KILL_RUN, seed=57)
    produce(broker[2], f"{prefix}agency-events", [keyed(m) for m in sent])
    rng = random.Random(2026)
    for threshold in sorted(rng.sample(range(KILL_RUN // 20, KILL_RUN * 9 // 10), 4)):
        wait_for(lambda t=threshold: receipt_count(store) >= t, f"{threshold} receipts")
        worker.kill()
        worker.start()
    wait_for(lambda: receipt_count(store) >= len(sent), "a receipt per envelope")
    found = receipts(store)
    assert sorted(r.event_id for r in found) == sorted(m.event_id for m in sent)
    accepted = sum(1 for r in found if r.outcome == "accepted")
    reports = sum(
        [e["topic"] for e in store.events_of(f"{PB}/task/{task}")].count(
            "lienthong.task.ProgressReported"
        )
        for task in LEADS
    )
    assert reports == accepted


def test_restarting_the_broker_during_a_run_loses_nothing(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    home, port, bootstrap = broker
    first, second = many_envelopes(1_500, seed=1), many_envelopes(1_500, seed=2)
    produce(bootstrap, f"{prefix}agency-events", [keyed(m) for m in first])
    wait_for(lambda: receipt_count(store) >= 200, "the run under way")
    restart(home, port)
    produce(bootstrap, f"{prefix}agency-events", [keyed(m) for m in second])
    wait_for(lambda: receipt_count(store) >= 3_000, "a receipt per envelope")
    assert sorted(r.event_id for r in receipts(store)) == sorted(m.event_id for m in first + second)


def test_the_sdk_kafka_publisher_reaches_the_store(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    from lienthong_sdk import envelopes  # noqa: PLC0415
    from lienthong_sdk.kafka import KafkaPublisher  # noqa: PLC0415

    message = signed(
        envelopes.progress_reported(
            f"{PB}/task/24",
            percent=35,
            as_of=dt.date(2026, 3, 2),
            agency_id="phuoc-binh.health-post",
        )
    )
    with KafkaPublisher(broker[2], topic=f"{prefix}agency-events") as publisher:
        metadata = publisher.publish(message)
    assert metadata.topic == f"{prefix}agency-events"
    wait_for(lambda: receipt_count(store) == 1, "the receipt")
    assert store.item_status(f"{PB}/task/24")["percent"] == 35
