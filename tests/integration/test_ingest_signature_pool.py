"""A large batch's signatures checked by the ingestor's helper process
(:mod:`services.kafka.signatures`): each bad one refused with its own code, in the
same place as when the ingesting thread checks it, the good ones around it kept; a
key revoked between two such batches is seen revoked by the second."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from lienthong.v1 import envelope_pb2

from domain.keys import Role
from lienthong_sdk.identity import Signer
from services.app.identity import register_key, revoke_key
from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.app.submissions import Verdict
from services.kafka.ingest import BatchIngestor, Record
from services.kafka.signatures import POOL_MIN
from tests.conftest import PLANS, REGISTRY
from tests.identities import OPERATOR, anchors, authority, enrol, signed, signer

PB = "phuoc-binh-2026"
HEALTH, POLICE = "phuoc-binh.health-post", "phuoc-binh.police"
TOPIC = "agency-events"
GOOD = POOL_MIN + 50  # good records in a batch: enough for the helper


@pytest.fixture
def store(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return app


@pytest.fixture
def ingestor(store: Ledger) -> Any:
    ingestor = BatchIngestor(store, anchors=anchors())
    assert ingestor.pool.ready(120.0), "the signature helper did not start"
    yield ingestor
    ingestor.pool.close()


def report(percent: int, agency: str = HEALTH) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id=agency, subject=f"{PB}/task/24"
    )
    message.occurred_at.FromDatetime(dt.datetime(2026, 2, 10, 2, tzinfo=dt.UTC))
    message.progress_reported.percent = percent
    message.progress_reported.as_of = "2026-02-10"
    return message


def new_signer(app: Ledger | None) -> Signer:
    certificate, key = authority().issue(HEALTH, Role.AGENCY)
    if app is not None:
        register_key(app, certificate.public_bytes(Encoding.PEM), anchors(), OPERATOR)
    return Signer(certificate, key)


def outcomes(results: list[tuple[Record, Verdict]]) -> list[tuple[str, str]]:
    return [(v.outcome, v.reason_code) for _, v in results]


def records(messages: list[envelope_pb2.AgencyEventEnvelope], first: int) -> list[Record]:
    return [Record(TOPIC, 0, first + i, m.SerializeToString()) for i, m in enumerate(messages)]


def test_each_bad_signature_the_helper_checks_is_refused_with_its_code_among_good_ones(
    store: Ledger, ingestor: Any
) -> None:
    revoked = new_signer(store)
    revoke_key(store, revoked.key_id, "rotated", OPERATOR)
    tampered = signed(report(40))
    tampered.progress_reported.percent = 41
    garbage = report(40)
    garbage.signature.key_id = signer(HEALTH).key_id
    garbage.signature.algorithm = "ecdsa-p256-sha256"
    garbage.signature.signature = ec.generate_private_key(ec.SECP256R1()).sign(
        b"something else", ec.ECDSA(hashes.SHA256())
    )
    garbage.signature.certificate = signer(HEALTH).sign(report(1)).signature.certificate
    other_algorithm = signed(report(40))
    other_algorithm.signature.algorithm = "ed25519"
    bad = {
        7: (tampered, "SIGNATURE_INVALID"),
        60: (garbage, "SIGNATURE_INVALID"),
        120: (other_algorithm, "SIGNATURE_INVALID"),
        180: (revoked.sign(report(40)), "KEY_REVOKED"),
        200: (new_signer(None).sign(report(40)), "KEY_UNKNOWN"),
        230: (signer(POLICE).sign(report(40)), "KEY_NOT_OF_AGENCY"),
    }
    messages: list[envelope_pb2.AgencyEventEnvelope] = []
    expected: list[tuple[str, str]] = []
    for index in range(GOOD):
        if index in bad:
            message, code = bad[index]
            messages.append(message)
            expected.append(("rejected", code))
        messages.append(signed(report(min(100, 10 + index // 4))))
        expected.append(("accepted", ""))
    handed = ingestor.pool.handed
    assert outcomes(ingestor.ingest(records(messages, 0))) == expected
    assert ingestor.pool.handed - handed >= GOOD  # the helper checked them


def test_a_key_revoked_between_two_batches_the_helper_checks_is_seen_revoked(
    store: Ledger, ingestor: Any
) -> None:
    key = new_signer(store)
    first = [key.sign(report(10 + i // 10)) for i in range(GOOD)]
    assert set(outcomes(ingestor.ingest(records(first, 0)))) == {("accepted", "")}
    other = Ledger(env=dict(store.env))  # another process revokes it
    try:
        revoke_key(other, key.key_id, "rotated", OPERATOR)
    finally:
        other.close()
    handed = ingestor.pool.handed
    second = [key.sign(report(60)) for _ in range(GOOD)]
    assert set(outcomes(ingestor.ingest(records(second, GOOD)))) == {("rejected", "KEY_REVOKED")}
    assert ingestor.pool.handed - handed >= GOOD
