"""Signed envelopes, tried as a hostile sender would, on a real PostgreSQL, through both
the gRPC servicer's path (embedded mode: caller check, verification, submission) and
the Kafka worker's batch path: every bad signature is refused with its own code and
kept on record in the unverified scope, never blocking the real agency's event id;
what is accepted keeps its signature, verifiable again offline."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from google.rpc import code_pb2
from lienthong.v1 import envelope_pb2, ingest_service_pb2
from lienthong.v1 import review_service_pb2 as review_pb

from domain.keys import CertificateExpiredError, CertificateUntrustedError, Role
from domain.submission import Submission, submission_id
from lienthong_sdk.identity import Signer
from services.app.identity import Identity, TrustAnchors, register_key, revoke_key
from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.app.pki import Authority
from services.app.submissions import UNVERIFIED, Verdict
from services.grpc import review
from services.grpc.callers import CALLER
from services.grpc.errors import RejectedError, status_of
from services.grpc.ingest import IngestServicer
from services.kafka.ingest import BatchIngestor, Record
from services.wire.convert import Checker
from services.wire.envelopes import digest_of
from services.wire.receipts import VERIFIED, find_receipt, verify_receipt
from tests.conftest import PLANS, REGISTRY
from tests.identities import OPERATOR, anchors, authority, enrol, signed, signer

PB = "phuoc-binh-2026"
HEALTH, POLICE, OFFICE = "phuoc-binh.health-post", "phuoc-binh.police", "phuoc-binh.vhxh"
TOPIC = "agency-events"

Send = Callable[[envelope_pb2.AgencyEventEnvelope], Verdict]


@pytest.fixture
def store(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return app


def through_grpc(app: Ledger) -> Send:
    """IngestService's embedded path: the envelope read, checked against its caller,
    verified, then recorded (what Publish does before answering)."""
    servicer = IngestServicer(app, None, cast("Any", None), anchors())

    def send(message: envelope_pb2.AgencyEventEnvelope) -> Verdict:
        received = servicer.received(message)
        return asyncio.run(servicer.apply(message, received))

    return send


def through_kafka(app: Ledger) -> Send:
    """The ingest worker's path: one record per batch, offsets following on."""
    ingestor = BatchIngestor(app, anchors=anchors())
    offsets = itertools.count()

    def send(message: envelope_pb2.AgencyEventEnvelope) -> Verdict:
        record = Record(TOPIC, 0, next(offsets), message.SerializeToString())
        ((_, verdict),) = ingestor.ingest([record])
        return verdict

    return send


@pytest.fixture(params=["grpc", "kafka"])
def send(request: pytest.FixtureRequest, store: Ledger) -> Send:
    return {"grpc": through_grpc, "kafka": through_kafka}[request.param](store)


def report(
    agency: str = HEALTH, percent: int = 30, event_id: str = ""
) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=event_id or str(uuid.uuid4()), agency_id=agency, subject=f"{PB}/task/24"
    )
    message.occurred_at.FromDatetime(dt.datetime(2026, 2, 10, 2, tzinfo=dt.UTC))
    message.progress_reported.percent = percent
    message.progress_reported.as_of = "2026-02-10"
    return message


def refused(verdict: Verdict) -> tuple[str, str]:
    return verdict.outcome, verdict.reason_code


def percent_of(app: Ledger) -> int:
    return int(app.item_status(f"{PB}/task/24")["percent"])


def unverified_receipt(app: Ledger, message: envelope_pb2.AgencyEventEnvelope) -> Submission:
    receipt_id = submission_id(UNVERIFIED, f"{message.event_id}#{digest_of(message)}")
    receipt: Submission = app.repository.get(receipt_id)
    return receipt


def new_signer(
    app: Ledger | None, name: str = HEALTH, issuer: Authority | None = None, **issue: Any
) -> Signer:
    """A fresh key of ``name`` (registered in ``app`` unless None)."""
    certificate, key = (issuer or authority()).issue(name, Role.AGENCY, **issue)
    if app is not None:
        register_key(app, certificate.public_bytes(Encoding.PEM), anchors(), OPERATOR)
    return Signer(certificate, key)


# Each way a signature fails, on both channels ------------------------------------------


def test_a_signed_envelope_is_accepted_and_keeps_its_signature(store: Ledger, send: Send) -> None:
    message = signed(report())
    assert send(message).outcome == "accepted"
    receipt = find_receipt(store, message.event_id, HEALTH)
    assert receipt.key_id == message.signature.key_id
    assert receipt.algorithm == "ecdsa-p256-sha256"
    assert base64.b64decode(receipt.signature) == message.signature.signature
    envelope = envelope_pb2.AgencyEventEnvelope.FromString(base64.b64decode(receipt.signed))
    assert not envelope.HasField("signature")
    assert envelope.event_id == message.event_id
    assert verify_receipt(store, receipt, anchors()).outcome == VERIFIED


def test_an_unsigned_envelope_is_refused_as_signature_missing(store: Ledger, send: Send) -> None:
    message = report()
    assert refused(send(message)) == ("rejected", "SIGNATURE_MISSING")
    assert unverified_receipt(store, message).reason_code == "SIGNATURE_MISSING"
    assert percent_of(store) == 0


def test_a_garbage_signature_naming_a_real_key_is_refused_as_signature_invalid(
    store: Ledger, send: Send
) -> None:
    message = report()
    message.signature.key_id = signer(HEALTH).key_id
    message.signature.algorithm = "ecdsa-p256-sha256"
    message.signature.signature = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    assert refused(send(message)) == ("rejected", "SIGNATURE_INVALID")


def test_an_envelope_changed_after_signing_is_refused_as_signature_invalid(
    store: Ledger, send: Send
) -> None:
    message = signed(report(percent=30))
    message.progress_reported.percent = 90
    assert refused(send(message)) == ("rejected", "SIGNATURE_INVALID")
    assert percent_of(store) == 0


def test_a_signature_naming_another_algorithm_than_the_keys_is_refused(
    store: Ledger, send: Send
) -> None:
    message = signed(report())
    message.signature.algorithm = "ed25519"
    verdict = send(message)
    assert refused(verdict) == ("rejected", "SIGNATURE_INVALID")
    assert verdict.field == "signature.algorithm"


def test_a_key_nobody_registered_is_refused_as_key_unknown(store: Ledger, send: Send) -> None:
    message = new_signer(None).sign(report())
    assert refused(send(message)) == ("rejected", "KEY_UNKNOWN")


def test_a_certificate_from_another_authority_is_refused_as_untrusted(
    store: Ledger, send: Send
) -> None:
    rogue = Authority.create("Rogue CA")
    message = new_signer(None, issuer=rogue).sign(report())
    assert refused(send(message)) == ("rejected", "CERTIFICATE_UNTRUSTED")


def test_a_valid_signature_by_another_agencys_key_is_refused_as_key_not_of_agency(
    store: Ledger, send: Send
) -> None:
    message = signer(POLICE).sign(report(HEALTH))
    verdict = send(message)
    assert (refused(verdict), verdict.kind) == (("rejected", "KEY_NOT_OF_AGENCY"), "forbidden")


def test_a_revoked_key_signs_nothing_more_and_what_it_signed_before_stays_verifiable(
    store: Ledger, send: Send
) -> None:
    key = new_signer(store)
    before = key.sign(report(percent=30))
    assert send(before).outcome == "accepted"
    revoke_key(store, key.key_id, "the laptop was stolen", OPERATOR)
    after = key.sign(report(percent=60))
    assert refused(send(after)) == ("rejected", "KEY_REVOKED")
    assert percent_of(store) == 30
    receipt = find_receipt(store, before.event_id, HEALTH)
    assert (receipt.outcome if hasattr(receipt, "outcome") else "accepted") == "accepted"
    assert verify_receipt(store, receipt, anchors()).outcome == VERIFIED


def test_an_expired_certificate_is_refused_as_certificate_expired(
    store: Ledger, send: Send
) -> None:
    now = store.clock()
    start, end = now - dt.timedelta(days=400), now - dt.timedelta(days=1)
    back_then = Ledger(env=dict(store.env), clock=lambda: start + dt.timedelta(days=30))
    try:
        key = new_signer(back_then, not_before=start, not_after=end)
    finally:
        back_then.close()
    assert refused(send(key.sign(report()))) == ("rejected", "CERTIFICATE_EXPIRED")


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256-sha256"])
def test_ed25519_and_ecdsa_p256_keys_are_both_accepted(
    store: Ledger, send: Send, algorithm: str
) -> None:
    extra = {"key": ed25519.Ed25519PrivateKey.generate()} if algorithm == "ed25519" else {}
    key = new_signer(store, **extra)
    assert key.algorithm == algorithm
    message = key.sign(report())
    assert send(message).outcome == "accepted"
    receipt = find_receipt(store, message.event_id, HEALTH)
    assert (receipt.algorithm, verify_receipt(store, receipt, anchors()).outcome) == (
        algorithm,
        VERIFIED,
    )


# Refusals before verification never block the real agency -----------------------------


def test_an_impostors_refused_envelope_never_blocks_the_victims_event_id(
    store: Ledger, send: Send
) -> None:
    event_id = str(uuid.uuid4())
    forged = signer(POLICE).sign(report(HEALTH, 90, event_id))
    unsigned = report(HEALTH, 95, event_id)
    assert refused(send(forged)) == ("rejected", "KEY_NOT_OF_AGENCY")
    assert refused(send(unsigned)) == ("rejected", "SIGNATURE_MISSING")
    again = send(forged)  # the same bad envelope again finds its receipt
    assert (again.outcome, again.first_outcome, again.reason_code) == (
        "duplicate",
        "rejected",
        "KEY_NOT_OF_AGENCY",
    )
    real = signed(report(HEALTH, 30, event_id))
    assert send(real).outcome == "accepted"
    assert percent_of(store) == 30
    assert send(signed(report(HEALTH, 30, event_id))).outcome == "duplicate"  # signed anew


def test_an_identical_envelope_with_a_bad_signature_after_the_real_one_learns_nothing(
    store: Ledger, send: Send
) -> None:
    real = signed(report())
    assert send(real).outcome == "accepted"
    copy = envelope_pb2.AgencyEventEnvelope()
    copy.CopyFrom(real)
    copy.signature.signature = b"\x00" * 64
    verdict = send(copy)
    assert refused(verdict) == ("rejected", "SIGNATURE_INVALID")
    assert verdict.position == 0


# The caller (gRPC) and the batch's cache (Kafka) -----------------------------------------


@pytest.fixture
def caller() -> Iterator[Callable[[str], None]]:
    tokens = []

    def set_caller(name: str) -> None:
        tokens.append(CALLER.set(Identity(name, Role.AGENCY)))

    yield set_caller
    for token in reversed(tokens):
        CALLER.reset(token)


def test_a_caller_sending_in_another_agencys_name_is_refused_and_blocks_nothing(
    store: Ledger, caller: Callable[[str], None]
) -> None:
    send = through_grpc(store)
    message = signed(report(HEALTH))
    caller(POLICE)
    verdict = send(message)
    assert (refused(verdict), verdict.kind) == (("rejected", "AGENCY_NOT_CALLER"), "forbidden")
    assert unverified_receipt(store, message).reason_code == "AGENCY_NOT_CALLER"
    caller(HEALTH)
    assert send(message).outcome == "accepted"


def test_a_key_revoked_between_two_batches_is_seen_revoked_by_the_next(store: Ledger) -> None:
    send = through_kafka(store)
    key = new_signer(store)
    assert send(key.sign(report(percent=30))).outcome == "accepted"  # the key is cached now
    other = Ledger(env=dict(store.env))  # another process revokes it
    try:
        revoke_key(other, key.key_id, "rotated", OPERATOR)
    finally:
        other.close()
    assert refused(send(key.sign(report(percent=40)))) == ("rejected", "KEY_REVOKED")


def test_one_batch_refuses_each_bad_record_with_its_code_and_keeps_the_good_ones(
    store: Ledger,
) -> None:
    ingestor = BatchIngestor(store, anchors=anchors())
    messages = [
        signed(report(percent=20)),
        report(percent=90),
        signer(POLICE).sign(report(HEALTH, 90)),
        new_signer(None).sign(report(percent=90)),
        signed(report(percent=30)),
    ]
    records = [Record(TOPIC, 1, i, m.SerializeToString()) for i, m in enumerate(messages)]
    assert [refused(v) for _, v in ingestor.ingest(records)] == [
        ("accepted", ""),
        ("rejected", "SIGNATURE_MISSING"),
        ("rejected", "KEY_NOT_OF_AGENCY"),
        ("rejected", "KEY_UNKNOWN"),
        ("accepted", ""),
    ]
    assert percent_of(store) == 30


# Review requests -------------------------------------------------------------------------


def confirm(reviewer: str = OFFICE) -> review_pb.ChangeDeadlineRequest:
    request = review_pb.ChangeDeadlineRequest(
        request_id=str(uuid.uuid4()),
        subject=f"{PB}/task/5",
        deadline="Quý II/2026",
        reason="Chờ tỉnh",
        document="CV 45/UBND",
    )
    request.reviewer.agency_id = reviewer
    return request


def reviewed(app: Ledger, request: review_pb.ChangeDeadlineRequest) -> Verdict:
    servicer = review.ReviewServicer(app, REGISTRY, cast("Any", None), anchors())
    check = Checker()
    args = {"deadline": request.deadline, "reason": request.reason, "document": request.document}
    cmd = review.command(request, "deadline_changed", request.subject, args, check)
    return servicer.submitted(cmd, request)


def test_a_review_must_be_signed_by_its_reviewers_key(
    store: Ledger, caller: Callable[[str], None]
) -> None:
    cases = {
        "SIGNATURE_MISSING": confirm(),
        "KEY_NOT_OF_AGENCY": signer(POLICE).sign(confirm()),
    }
    for code, request in cases.items():
        with pytest.raises(RejectedError) as refusal:
            reviewed(store, request)
        assert refusal.value.verdict.reason_code == code
    request = signed(confirm())
    caller(POLICE)
    with pytest.raises(RejectedError) as refusal:
        reviewed(store, request)
    assert refusal.value.verdict.reason_code == "AGENCY_NOT_CALLER"
    caller(OFFICE)
    assert reviewed(store, request).outcome == "accepted"
    receipt = find_receipt(store, request.request_id, OFFICE)
    assert verify_receipt(store, receipt, anchors()).outcome == VERIFIED


class Settled:
    """Live views that hold every write already (the servicer waits on nothing)."""

    async def settle(self) -> None:
        return None

    def require_store(self) -> None:
        return None


@pytest.mark.parametrize(
    ("code", "status"),
    [("SIGNATURE_MISSING", "UNAUTHENTICATED"), ("KEY_NOT_OF_AGENCY", "PERMISSION_DENIED")],
)
def test_publish_answers_a_refused_signature_with_its_status_every_time(
    store: Ledger, code: str, status: str
) -> None:
    servicer = IngestServicer(store, None, cast("Any", Settled()), anchors())
    message = report() if code == "SIGNATURE_MISSING" else signer(POLICE).sign(report())
    request = ingest_service_pb2.PublishRequest(envelope=message)
    for _ in range(2):  # the second time a duplicate of the refusal: refused all the same
        with pytest.raises(RejectedError) as refusal:
            asyncio.run(servicer.Publish(request, cast("Any", None)))
        answer = status_of(refusal.value)
        assert answer is not None
        assert answer.code == getattr(code_pb2, status)
        assert refusal.value.verdict.reason_code == code


def test_a_plan_amendment_must_be_signed_by_its_reviewer(store: Ledger) -> None:
    servicer = review.ReviewServicer(store, REGISTRY, cast("Any", None), anchors())
    plan_file = next(p for p in PLANS if "phuoc-binh" in p.name).read_bytes()

    def amend(request: review_pb.AmendPlanRequest) -> review_pb.AmendPlanResponse:
        check = Checker()
        actor = review.actor_of(check, request)
        cmd = review.Command(
            check.uuid("request_id", request.request_id),
            "plan_amended",
            "",
            actor,
            digest=digest_of(request),
            scope=review.review_scope(actor.agency, "plan_amended"),
        )
        return servicer.amend(cmd, request)

    request = review_pb.AmendPlanRequest(request_id=str(uuid.uuid4()), plan_file=plan_file)
    request.reviewer.agency_id = OFFICE
    with pytest.raises(RejectedError) as refusal:
        amend(request)
    assert refusal.value.verdict.reason_code == "SIGNATURE_MISSING"
    assert amend(signed(request)).verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED
    receipt = find_receipt(store, request.request_id, OFFICE)
    assert verify_receipt(store, receipt, anchors()).outcome == VERIFIED


def test_remembered_anchors_still_check_every_certificates_validity_and_issuer() -> None:
    remembered = TrustAnchors(anchors().anchors)  # a fresh memory
    certificate, _ = authority().issue(HEALTH, Role.AGENCY)
    now = dt.datetime.now(dt.UTC)
    remembered.check(certificate, now)
    remembered.check(certificate, now)  # remembered: its window alone is checked
    with pytest.raises(CertificateExpiredError):
        remembered.check(certificate, certificate.not_valid_after_utc)
    rogue, _ = Authority.create("Rogue CA").issue(HEALTH, Role.AGENCY)
    for _ in range(2):
        with pytest.raises(CertificateUntrustedError):
            remembered.check(rogue, now)
