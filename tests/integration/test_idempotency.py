"""Idempotency keys that cannot collide, on a real PostgreSQL, through both the
single-submission path and the Kafka batch path: an event id is the sending agency's,
a review's request id its reviewer's for one kind of review, and a key re-sent with
another payload is refused as IDEMPOTENCY_KEY_REUSED — never answered "duplicate"."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from lienthong.v1 import envelope_pb2

from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.app.submissions import Command, Verdict, review_scope, submit
from services.kafka.ingest import BatchIngestor, Record
from services.wire.envelopes import digest_of, receive, verified
from tests.conftest import PLANS, REGISTRY
from tests.identities import anchors, enrol, signed

PB, DM = "phuoc-binh-2026", "da-mai-2026"
HEALTH, STEERING = "phuoc-binh.health-post", "da-mai.steering-committee"
TOPIC = "agency-events"
REUSED = "IDEMPOTENCY_KEY_REUSED"


@pytest.fixture
def plans(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return app


def report(
    agency: str, subject: str, percent: int, event_id: str
) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(event_id=event_id, agency_id=agency, subject=subject)
    message.occurred_at.FromDatetime(dt.datetime(2026, 2, 10, 2, tzinfo=dt.UTC))
    message.progress_reported.percent = percent
    message.progress_reported.as_of = "2026-02-10"
    return signed(message)


def sent(app: Ledger, message: envelope_pb2.AgencyEventEnvelope) -> Verdict:
    """Through the gRPC path: the envelope parsed, verified, submitted alone."""
    received = verified(app, receive(message, "grpc", "grpc"), anchors(), app.clock())
    assert received.refusal is None
    return submit(app, received.command)


def percent_of(app: Ledger, subject: str) -> int:
    return int(app.item_status(subject)["percent"])


def test_an_event_id_resent_with_another_payload_is_refused_naming_the_first(
    plans: Ledger,
) -> None:
    key = str(uuid.uuid4())
    first, other = (
        report(HEALTH, f"{PB}/task/24", 30, key),
        report(HEALTH, f"{PB}/task/24", 60, key),
    )
    assert sent(plans, first).outcome == "accepted"
    refused, again = sent(plans, other), sent(plans, other)
    assert (refused.outcome, refused.reason_code, refused.kind) == ("rejected", REUSED, "conflict")
    assert digest_of(first) in refused.message
    assert (again.outcome, again.reason_code) == ("rejected", REUSED)  # never "duplicate"
    assert sent(plans, first).outcome == "duplicate"
    assert percent_of(plans, f"{PB}/task/24") == 30


def test_two_agencies_using_one_event_id_each_get_their_own_verdict(plans: Ledger) -> None:
    key = str(uuid.uuid4())
    ours = sent(plans, report(HEALTH, f"{PB}/task/24", 30, key))
    theirs = sent(plans, report(STEERING, f"{DM}/task/1", 20, key))
    assert (ours.outcome, theirs.outcome) == ("accepted", "accepted")
    assert theirs.position != ours.position
    assert percent_of(plans, f"{DM}/task/1") == 20


def test_a_review_whose_request_id_is_an_envelopes_event_id_is_not_its_duplicate(
    plans: Ledger,
) -> None:
    key = str(uuid.uuid4())
    assert sent(plans, report(HEALTH, f"{PB}/task/24", 30, key)).outcome == "accepted"
    coordinator = plans.plan(PB).coordinator
    change = receive(report(coordinator, f"{PB}/task/5", 0, key), "grpc", "grpc").command
    review = Command(
        key,
        "deadline_changed",
        f"{PB}/task/5",
        change.actor,
        {"deadline": "Quý II/2026", "reason": "Chờ tỉnh", "document": "CV 45/UBND"},
        digest="d1",
        scope=review_scope(coordinator, "deadline_changed"),
    )
    assert submit(plans, review).outcome == "accepted"
    assert submit(plans, review).outcome == "duplicate"


def batch(*messages: envelope_pb2.AgencyEventEnvelope, first_offset: int = 0) -> list[Record]:
    return [
        Record(TOPIC, 0, first_offset + i, m.SerializeToString()) for i, m in enumerate(messages)
    ]


def test_a_batch_keys_by_agency_and_refuses_a_reused_key_within_and_across_batches(
    plans: Ledger,
) -> None:
    ingestor = BatchIngestor(plans, anchors=anchors())
    key = str(uuid.uuid4())
    ours, other = report(HEALTH, f"{PB}/task/24", 30, key), report(HEALTH, f"{PB}/task/24", 60, key)
    theirs = report(STEERING, f"{DM}/task/1", 20, key)
    verdicts = [v for _, v in ingestor.ingest(batch(ours, theirs, other, ours))]
    assert [(v.outcome, v.reason_code) for v in verdicts] == [
        ("accepted", ""),
        ("accepted", ""),
        ("rejected", REUSED),
        ("duplicate", ""),
    ]
    later = [v for _, v in ingestor.ingest(batch(other, ours, first_offset=4))]
    assert [(v.outcome, v.reason_code) for v in later] == [("rejected", REUSED), ("duplicate", "")]
    assert (percent_of(plans, f"{PB}/task/24"), percent_of(plans, f"{DM}/task/1")) == (30, 20)
    assert sent(plans, other).reason_code == REUSED  # the same answer on the other channel
    assert sent(plans, ours).outcome == "duplicate"


def test_an_envelope_has_one_digest_whichever_channel_brings_it() -> None:
    message = report(HEALTH, f"{PB}/task/24", 30, str(uuid.uuid4()))
    # The same envelope as another producer may encode it: its fields in another order.
    head, tail = envelope_pb2.AgencyEventEnvelope(), envelope_pb2.AgencyEventEnvelope()
    head.CopyFrom(message)
    head.ClearField("event_id")
    tail.event_id = message.event_id
    reordered = head.SerializeToString() + tail.SerializeToString()
    assert reordered != message.SerializeToString(deterministic=True)
    from_kafka = receive(reordered, "kafka", "agency-events:0:0").command
    from_grpc = receive(message, "grpc", "grpc").command
    assert from_kafka.digest == from_grpc.digest == digest_of(message)
