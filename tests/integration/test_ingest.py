"""Batches of Kafka records into the store on a real PostgreSQL: one transaction per
partition with its offset, every record ending as exactly one receipt."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid

import pytest
from eventsourcing.persistence import Tracking
from lienthong.v1 import envelope_pb2

from domain.submission import submission_id
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.app.submissions import UNVERIFIED
from services.kafka.ingest import BatchIngestor, Record
from services.store.recorder import OffsetGapError, insert_events
from services.wire.envelopes import digest_of
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY
from tests.identities import anchors, enrol, signed

PB = "phuoc-binh-2026"
TOPIC = "agency-events"
NEW_DOC = hashlib.sha256(b"new evidence").hexdigest()


@pytest.fixture
def ingestor(app: Ledger) -> BatchIngestor:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return BatchIngestor(app, anchors=anchors())


def envelope(agency: str, subject: str, event_id: str = "", **payload: dict[str, object]) -> bytes:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=event_id or str(uuid.uuid4()), agency_id=agency, subject=subject
    )
    message.occurred_at.FromDatetime(dt.datetime(2026, 2, 10, 2, tzinfo=dt.UTC))
    ((kind, fields),) = payload.items()
    getattr(message, kind).CopyFrom(
        getattr(envelope_pb2, "".join(w.title() for w in kind.split("_")))(**fields)
    )
    return signed(message).SerializeToString()


def progress(agency: str, task: str, percent: int, event_id: str = "") -> bytes:
    return envelope(
        agency,
        f"{PB}/task/{task}",
        event_id,
        progress_reported={"percent": percent, "as_of": "2026-02-10"},
    )


def records(partition: int, values: list[bytes], first_offset: int = 0) -> list[Record]:
    return [Record(TOPIC, partition, first_offset + i, v) for i, v in enumerate(values)]


def events_of(app: Ledger, subject: str) -> list[str]:
    return [e["topic"] for e in app.events_of(subject)]


def test_a_poisoned_batch_keeps_every_good_record_and_records_every_bad_one(
    ingestor: BatchIngestor,
) -> None:
    app = ingestor.app
    repeated = str(uuid.uuid4())
    batch = records(
        0,
        [
            progress("phuoc-binh.health-post", "24", 30, repeated),
            b"\x00\xffrandom bytes\x13",
            progress("phuoc-binh.health-post", "99", 10),
            progress("phuoc-binh.vhxh", "24", 40),
            progress("phuoc-binh.health-post", "24", 30, repeated),
            progress("phuoc-binh.health-post", "24", 45),
        ],
    ) + records(1, [progress("phuoc-binh.ttpvhcc", "23", 20)], first_offset=7)
    verdicts = [
        (r.partition, r.offset, v.outcome, v.reason_code)
        for r, v in ingestor.ingest(batch, {f"{TOPIC}:1": 7})
    ]
    assert verdicts == [
        (0, 0, "accepted", ""),
        (0, 1, "rejected", "UNDECODABLE"),
        (0, 2, "rejected", "NOT_FOUND"),
        (0, 3, "rejected", "NOT_LEAD_UNIT"),
        (0, 4, "duplicate", ""),
        (0, 5, "accepted", ""),
        (1, 7, "accepted", ""),
    ]
    assert events_of(app, f"{PB}/task/24") == [
        "lienthong.task.Assigned",
        "lienthong.task.ProgressReported",
        "lienthong.task.ProgressReported",
    ]
    assert app.item_status(f"{PB}/task/24")["percent"] == 45
    assert (ingestor.stored_offset(TOPIC, 0), ingestor.stored_offset(TOPIC, 1)) == (5, 7)
    digest = hashlib.sha256(batch[1].value).hexdigest()
    poison = app.repository.get(submission_id(UNVERIFIED, f"sha256:{digest}#{digest}"))
    assert (poison.outcome, poison.reason_code) == ("rejected", "UNDECODABLE")


def test_positions_of_accepted_records_point_at_their_events(ingestor: BatchIngestor) -> None:
    results = ingestor.ingest(
        records(
            0,
            [
                progress("phuoc-binh.health-post", "24", 30),
                progress("phuoc-binh.health-post", "24", 40),
            ],
        )
    )
    first, second = (v for _, v in results)
    assert 0 < first.position < second.position
    assert (first.subject_version, second.subject_version) == (2, 3)
    assert ingestor.app.position(ingestor.app.item(f"{PB}/task/24").id, 3) == second.position


def test_records_at_or_below_the_stored_offset_are_skipped(ingestor: BatchIngestor) -> None:
    batch = records(
        2,
        [
            progress("phuoc-binh.health-post", "24", 30),
            progress("phuoc-binh.health-post", "24", 40),
        ],
    )
    ingestor.ingest(batch)
    before = ingestor.app.recorder.max_notification_id()
    assert ingestor.ingest(batch) == []
    assert ingestor.app.recorder.max_notification_id() == before
    assert (ingestor.stored_offset(TOPIC, 2), ingestor.stored_offset(TOPIC, 3)) == (1, None)


def test_a_refused_record_leaves_nothing_of_its_own_in_the_batch(ingestor: BatchIngestor) -> None:
    claim = envelope_pb2.AgencyEventEnvelope.FromString(
        envelope("phuoc-binh.vhxh", f"{PB}/task/24", completion_claimed={})
    )
    claim.evidence.add(sha256=NEW_DOC, uri="s3://e/new.pdf", media_type="application/pdf")
    signed(claim)
    batch = records(
        0,
        [
            progress("phuoc-binh.health-post", "24", 30),
            claim.SerializeToString(),
            progress("phuoc-binh.health-post", "24", 50),
        ],
    )
    outcomes = [v.outcome for _, v in ingestor.ingest(batch)]
    assert outcomes == ["accepted", "rejected", "accepted"]
    status = ingestor.app.item_status(f"{PB}/task/24")
    assert (status["percent"], status["evidence"]) == (50, {})


def test_a_batch_that_meets_another_writer_is_applied_record_by_record(
    ingestor: BatchIngestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ingestor.app
    other = Ledger(env=dict(app.env))
    prepare = app.prepare
    done: list[bool] = []

    def prepare_then_interfere(*args: object, **kwargs: object) -> object:
        aggregate = prepare(*args, **kwargs)  # type: ignore[arg-type]
        if not done:
            done.append(True)
            office = Actor("phuoc-binh.vhxh", channel="test")
            execute(
                other,
                "deadline_changed",
                f"{PB}/task/24",
                office,
                {"deadline": "Quý II/2026", "reason": "r", "document": "d"},
            )
        return aggregate

    monkeypatch.setattr(app, "prepare", prepare_then_interfere)
    verdicts = [
        v.outcome
        for _, v in ingestor.ingest(
            records(
                0,
                [
                    progress("phuoc-binh.health-post", "24", 30),
                    progress("phuoc-binh.health-post", "24", 40),
                ],
            )
        )
    ]
    other.close()
    assert verdicts == ["accepted", "accepted"]
    assert events_of(app, f"{PB}/task/24") == [
        "lienthong.task.Assigned",
        "lienthong.task.DeadlineChanged",
        "lienthong.task.ProgressReported",
        "lienthong.task.ProgressReported",
    ]
    assert ingestor.stored_offset(TOPIC, 0) == 1


def test_malformed_records_are_kept_on_record_with_what_is_known_of_them(
    ingestor: BatchIngestor,
) -> None:
    app = ingestor.app
    known = str(uuid.uuid4())
    no_date = envelope_pb2.AgencyEventEnvelope.FromString(
        progress("phuoc-binh.health-post", "24", 30, known)
    )
    no_date.ClearField("occurred_at")
    bad_id = envelope_pb2.AgencyEventEnvelope.FromString(progress("", "24", 30))
    bad_id.event_id = "42"
    values = [no_date.SerializeToString(), bad_id.SerializeToString(), b"\xff\xff\xff"]
    verdicts = [
        (v.event_id, v.reason_code)
        for _, v in ingestor.ingest(records(3, values, 40), {f"{TOPIC}:3": 40})
    ]
    digests = [  # of the envelope without its signature; of the bytes when no envelope
        *(digest_of(envelope_pb2.AgencyEventEnvelope.FromString(v)) for v in values[:2]),
        hashlib.sha256(values[2]).hexdigest(),
    ]
    assert verdicts == [
        (known, "INVALID_REQUEST"),
        (f"sha256:{digests[1]}", "INVALID_REQUEST"),
        (f"sha256:{digests[2]}", "UNDECODABLE"),
    ]
    stored = [
        e
        for e in app.recorder.select_notifications(1, 10_000)
        if e.topic == "lienthong.submission.Rejected"
    ]
    receipts = [vars(app.mapper.to_domain_event(e)) for e in stored]
    assert [
        (r["event_id"], r["actor"], r["field"], r["digest"], r["origin"], r["raw"])
        for r in receipts
    ] == [
        (
            known,
            "phuoc-binh.health-post",
            "envelope.occurred_at",
            digests[0],
            f"{TOPIC}:3:40",
            base64.b64encode(values[0]).decode(),
        ),
        (
            f"sha256:{digests[1]}",
            "unknown",
            "envelope.event_id",
            digests[1],
            f"{TOPIC}:3:41",
            base64.b64encode(values[1]).decode(),
        ),
        (
            f"sha256:{digests[2]}",
            "unknown",
            "",
            digests[2],
            f"{TOPIC}:3:42",
            base64.b64encode(values[2]).decode(),
        ),
    ]
    assert {r["channel"] for r in receipts} == {"kafka"}


def test_a_batch_that_does_not_follow_the_stored_offset_is_refused_and_stores_nothing(
    ingestor: BatchIngestor,
) -> None:
    ingestor.ingest(records(0, [progress("phuoc-binh.health-post", "24", 30)]))
    before = ingestor.app.recorder.max_notification_id()
    later = records(0, [progress("phuoc-binh.health-post", "24", 40)], first_offset=2)
    with pytest.raises(OffsetGapError, match="expects offset 1 next, the batch starts at 2"):
        ingestor.ingest(later)
    fresh = records(1, [progress("phuoc-binh.ttpvhcc", "23", 20)], first_offset=3)
    with pytest.raises(OffsetGapError, match="expects offset 0 next, the batch starts at 3"):
        ingestor.ingest(fresh)
    assert ingestor.app.recorder.max_notification_id() == before
    assert (ingestor.stored_offset(TOPIC, 0), ingestor.stored_offset(TOPIC, 1)) == (0, None)


def test_the_storing_transaction_checks_the_offsets_under_the_table_lock(
    ingestor: BatchIngestor,
) -> None:
    ingestor.ingest(records(0, [progress("phuoc-binh.health-post", "24", 30)]))
    app = ingestor.app
    with pytest.raises(OffsetGapError, match="expects offset 1 next, the batch starts at 5"):
        insert_events(app.recorder, [], [Tracking(f"{TOPIC}:0", 5)], {f"{TOPIC}:0": 5})
    assert ingestor.stored_offset(TOPIC, 0) == 0
