"""The operator's identity commands against a real PostgreSQL: a throwaway authority,
registering, listing and revoking keys, enrolling every agency, and an auditor
re-verifying a stored signature offline; what the CLI writes names the operator."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lienthong.v1 import envelope_pb2

from domain.keys import Role
from lienthong_sdk.identity import Identity
from services.app.identity import TrustAnchors
from services.app.ledger import Actor, Ledger
from services.app.pki import Authority, identity_files
from services.app.submissions import Command, submit
from services.store.database import Database
from services.wire.envelopes import receive, verified
from tests.conftest import PLANS, REGISTRY
from tests.integration.test_cli import run

PLANS_DIR = PLANS[0].parent
HEALTH = "phuoc-binh.health-post"
PB = "phuoc-binh-2026"


@pytest.fixture
def pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "pki"
    monkeypatch.setenv("LIENTHONG_PKI_DIR", str(folder))
    monkeypatch.delenv("LIENTHONG_TRUST_ANCHORS", raising=False)
    monkeypatch.setenv("LIENTHONG_OPERATOR", "alice")
    return folder


def init(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pki", "init", "--agencies", str(REGISTRY), "--plans-dir", str(PLANS_DIR)]
    assert run(capsys, *argv)[0] == 0


def imported_and_enrolled(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    init(capsys)
    code, _, err = run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))
    assert code == 0, err
    argv = ["keys", "enrol", "--agencies", str(REGISTRY), "--plans-dir", str(PLANS_DIR)]
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_pki_init_makes_an_authority_once(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(capsys)
    authority = (pki / "ca.pem").read_bytes()
    assert identity_files(pki, HEALTH, Role.AGENCY).certificate.exists()
    assert identity_files(pki, "phuoc-binh.vhxh", Role.OFFICE).key.exists()
    code, _, err = run(capsys, "pki", "init", "--agencies", str(REGISTRY))
    assert (code, "nothing changed" in err) == (0, True)
    assert (pki / "ca.pem").read_bytes() == authority


def test_keys_enrol_register_list_and_revoke_record_the_operator(
    pki: Path, configured: Database, app: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    enrolled = imported_and_enrolled(capsys)
    assert HEALTH in {k["agency"] for k in enrolled}
    again = ["keys", "enrol", "--agencies", str(REGISTRY), "--plans-dir", str(PLANS_DIR)]
    assert run(capsys, *again)[:2] == (0, "")  # every key is registered already
    code, out, _ = run(capsys, "keys", "list", "--agency", HEALTH, "--format", "json")
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert (code, listed["agency"], listed["revoked_at"]) == (0, HEALTH, None)
    # A second key (a rotation) from the same authority; the same one again is refused.
    certificate, _ = Authority.load(pki).issue(HEALTH, Role.AGENCY)
    new = pki / "new.pem"
    new.write_bytes(certificate.public_bytes(Encoding.PEM))
    code, out, err = run(capsys, "keys", "register", str(new), "--format", "json")
    assert code == 0, err
    rotated = json.loads(out)
    code, _, err = run(capsys, "keys", "register", str(new))
    assert (code, "KEY_ALREADY_REGISTERED" in err) == (2, True)
    code, out, _ = run(
        capsys, "keys", "revoke", str(listed["key_id"]), "--reason", "rotated", "--format", "json"
    )
    assert (code, json.loads(out)["revocation_reason"]) == (0, "rotated")
    code, out, _ = run(capsys, "keys", "list", "--agency", HEALTH, "--format", "json")
    states = {k["key_id"]: k["revoked_at"] for k in map(json.loads, out.splitlines())}
    assert states[rotated["key_id"]] is None
    assert states[listed["key_id"]] is not None
    assert run(capsys, "keys", "revoke", str(listed["key_id"]), "--reason", "again")[0] == 2
    operators = {
        (e["actor"], e["channel"])
        for e in audit_records(app)
        if e["topic"].startswith("lienthong.signing_key.")
    }
    assert operators == {("operator:alice", "cli")}


def audit_records(app: Ledger) -> list[dict[str, object]]:
    records = []
    for notification in app.recorder.select_notifications(1, 100_000):
        event = app.mapper.to_domain_event(notification)
        records.append(
            {
                "topic": notification.topic,
                "actor": getattr(event, "actor", ""),
                "channel": getattr(event, "channel", ""),
                "person": getattr(event, "person", None),
            }
        )
    return records


def test_plans_import_records_the_operator_who_authorised_it(
    pki: Path, configured: Database, app: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))
    assert code == 0, err
    issued = [r for r in audit_records(app) if r["topic"] == "lienthong.plan.Issued"]
    assert issued
    assert {(r["person"], r["channel"]) for r in issued} == {("operator:alice", "cli")}


def signed_report(pki: Path, percent: int) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id=HEALTH, subject=f"{PB}/task/24"
    )
    message.occurred_at.FromDatetime(dt.datetime(2026, 2, 10, 2, tzinfo=dt.UTC))
    message.progress_reported.percent = percent
    message.progress_reported.as_of = "2026-02-10"
    files = identity_files(pki, HEALTH, Role.AGENCY)
    identity = Identity.from_files(files.certificate, files.key, pki / "ca.pem")
    return identity.signer().sign(message)


def test_an_auditor_verifies_a_stored_signature_offline(
    pki: Path, configured: Database, app: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    imported_and_enrolled(capsys)
    message = signed_report(pki, 30)
    received = verified(
        app, receive(message, "grpc", "grpc"), TrustAnchors.load(pki / "ca.pem"), app.clock()
    )
    verdict = submit(app, received.command)
    assert verdict.outcome == "accepted"
    argv = ["audit", "verify-signature", message.event_id, "--agency", HEALTH, "--format", "json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    check = json.loads(out)
    assert (check["outcome"], check["kind"], check["subject"]) == (
        "verified",
        "progress_reported",
        f"{PB}/task/24",
    )
    assert check["key_id"] == message.signature.key_id
    # By the log position of the event it recorded, too.
    code, out, _ = run(capsys, "audit", "verify-signature", "--position", str(verdict.position))
    assert (code, out.split(":")[0]) == (0, "verified")
    # Against another authority's anchors: the certificate on record does not chain.
    other = pki.parent / "other.pem"
    other.write_bytes(TrustAnchors([Authority.create("Other CA").certificate]).pem())
    code, out, _ = run(capsys, *argv, "--anchors", str(other))
    assert (code, json.loads(out)["reason"]) == (3, "CERTIFICATE_UNTRUSTED")
    # An event accepted without a signature (legacy): not verifiable.
    legacy_id = str(uuid.uuid4())
    legacy = submit(
        app,
        Command(
            legacy_id,
            "progress_reported",
            f"{PB}/task/24",
            Actor(HEALTH, channel="test", message_id=legacy_id),
            {"percent": 40, "as_of": dt.date(2026, 2, 10)},
        ),
    )
    assert legacy.subject_version == 3
    position = app.position(app.item(f"{PB}/task/24").id, 3)
    code, out, _ = run(
        capsys, "audit", "verify-signature", "--position", str(position), "--format", "json"
    )
    assert (code, json.loads(out)["outcome"]) == (2, "unsigned")
    assert run(capsys, "audit", "verify-signature", str(uuid.uuid4()), "--agency", HEALTH)[0] == 2
    # Keys and signed receipts are events like any other to every view.
    code, out, err = run(capsys, "projections", "rebuild", "--all")
    assert code == 0, err
