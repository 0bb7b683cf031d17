"""Signed envelopes on the Kafka channel, with a real broker and the ingest worker as its
own process: each bad signature refused with its code, kept on record and copied to
``agency-events.rejected``; an impostor never blocks the victim's event id; a key
revoked while the worker runs signs nothing more, and what it signed before stays
verifiable."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from lienthong.v1 import envelope_pb2

from domain.keys import Role
from lienthong_sdk.identity import Signer
from services.app.identity import register_key, revoke_key
from services.app.ledger import Ledger
from services.app.pki import Authority
from services.kafka.relay import Relay
from services.kafka.topics import kafka_producer
from services.store.database import Database
from services.wire.receipts import VERIFIED, find_receipt, verify_receipt
from tests.identities import OPERATOR, anchors, authority, signed, signer
from tests.kafka.test_ingestion import (
    PB,
    Worker,
    consume,
    keyed,
    produce,
    receipt_count,
    receipts,
    wait_for,
)

HEALTH, POLICE = "phuoc-binh.health-post", "phuoc-binh.police"


@pytest.fixture
def worker(
    database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> Iterator[Worker]:
    running = Worker(database, broker[2], prefix, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


def report(
    percent: int, event_id: str = "", agency: str = HEALTH
) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=event_id or str(uuid.uuid4()), agency_id=agency, subject=f"{PB}/task/24"
    )
    message.occurred_at.FromDatetime(dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC))
    message.progress_reported.percent = percent
    message.progress_reported.as_of = "2026-03-02"
    return message


def registered(app: Ledger, issuer: Authority | None = None, **issue: object) -> Signer:
    certificate, key = (issuer or authority()).issue(HEALTH, Role.AGENCY, **issue)  # type: ignore[arg-type]
    register_key(app, certificate.public_bytes(Encoding.PEM), anchors(), OPERATOR)
    return Signer(certificate, key)


def outcomes(app: Ledger) -> list[tuple[str, str, str]]:
    return [(r.event_id, r.outcome, r.reason_code) for r in receipts(app)]


def test_every_bad_signature_is_refused_with_its_code_and_copied_to_rejected(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    bootstrap = broker[2]
    victim_id = str(uuid.uuid4())
    garbage = report(70)
    garbage.signature.key_id = signer(HEALTH).key_id
    garbage.signature.algorithm = "ecdsa-p256-sha256"
    garbage.signature.signature = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    unregistered_certificate, unregistered_key = authority().issue(HEALTH, Role.AGENCY)
    rogue = Authority.create("Rogue CA")
    rogue_certificate, rogue_key = rogue.issue(HEALTH, Role.AGENCY)
    bad = {
        "SIGNATURE_MISSING": report(60),
        "SIGNATURE_INVALID": garbage,
        "KEY_UNKNOWN": Signer(unregistered_certificate, unregistered_key).sign(report(80)),
        "CERTIFICATE_UNTRUSTED": Signer(rogue_certificate, rogue_key).sign(report(85)),
        "KEY_NOT_OF_AGENCY": signer(POLICE).sign(report(90, victim_id)),
    }
    ed = registered(store, key=ed25519.Ed25519PrivateKey.generate())
    good = [signed(report(20)), ed.sign(report(30)), signed(report(40, victim_id))]
    produce(
        bootstrap,
        f"{prefix}agency-events",
        [keyed(m) for m in [good[0], *bad.values(), good[1], good[2]]],
    )
    wait_for(lambda: receipt_count(store) == len(bad) + len(good), "a receipt per envelope")
    found = {(event_id, outcome): code for event_id, outcome, code in outcomes(store)}
    for code, message in bad.items():
        assert found[message.event_id, "rejected"] == code
    for message in good:
        assert (message.event_id, "accepted") in found  # the victim's id included
    assert store.item_status(f"{PB}/task/24")["percent"] == 40
    for message in good:
        receipt = find_receipt(store, message.event_id, HEALTH)
        assert verify_receipt(store, receipt, anchors()).outcome == VERIFIED
    relay = Relay(store, kafka_producer(bootstrap), prefix)
    while relay.step():
        pass
    copies = consume(bootstrap, f"{prefix}agency-events.rejected", len(bad))
    assert {dict(c.headers)["reason_code"].decode() for c in copies} == set(bad)  # type: ignore[attr-defined]
    assert {c.value for c in copies} == {m.SerializeToString() for m in bad.values()}  # type: ignore[attr-defined]


def test_a_key_revoked_while_the_worker_runs_signs_nothing_more(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    key = registered(store)
    before = key.sign(report(30))
    produce(broker[2], f"{prefix}agency-events", [keyed(before)])
    wait_for(lambda: receipt_count(store) == 1, "the first receipt")
    revoke_key(store, key.key_id, "the laptop was stolen", OPERATOR)
    after = key.sign(report(60))
    produce(broker[2], f"{prefix}agency-events", [keyed(after)])
    wait_for(lambda: receipt_count(store) == 2, "the second receipt")
    assert sorted(outcomes(store)) == sorted(
        [(before.event_id, "accepted", ""), (after.event_id, "rejected", "KEY_REVOKED")]
    )
    assert store.item_status(f"{PB}/task/24")["percent"] == 30
    receipt = find_receipt(store, before.event_id, HEALTH)
    assert verify_receipt(store, receipt, anchors()).outcome == VERIFIED


def test_an_expired_certificate_is_refused_on_kafka(
    store: Ledger, worker: Worker, broker: tuple[Path, int, str], prefix: str
) -> None:
    now = store.clock()
    start, end = now - dt.timedelta(days=400), now - dt.timedelta(days=1)
    back_then = Ledger(env=dict(store.env), clock=lambda: start + dt.timedelta(days=30))
    try:
        key = registered(back_then, not_before=start, not_after=end)
    finally:
        back_then.close()
    message = key.sign(report(50))
    produce(broker[2], f"{prefix}agency-events", [keyed(message)])
    wait_for(lambda: receipt_count(store) == 1, "the receipt")
    assert outcomes(store) == [(message.event_id, "rejected", "CERTIFICATE_EXPIRED")]
