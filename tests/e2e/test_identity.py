"""Who is calling, attacked over the wire: every identity failure the issue lists is
refused with its own code over real mutual TLS, and nothing it tried is recorded
in anyone's name (the impersonation chain of issue 12, replayed)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from google.rpc import error_details_pb2
from lienthong.v1 import (
    envelope_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    review_service_pb2,
    review_service_pb2_grpc,
)

from domain.keys import Role
from lienthong_sdk.identity import Signer
from services.app.identity import register_key, revoke_key
from services.app.ledger import Ledger
from services.app.pki import Authority
from tests import identities
from tests.e2e.conftest import ServerThread
from tests.e2e.test_grpc_api import PB, SIGNED, detail, envelope, status_of

POLICE = "phuoc-binh.police"
OFFICE = "phuoc-binh.vhxh"
HEALTH_POST = "phuoc-binh.health-post"
TASK = f"{PB}/task/28"  # led by the ward police
TIMEOUT = 20


def publish(channel: grpc.Channel, message: envelope_pb2.AgencyEventEnvelope) -> Any:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    return stub.Publish(ingest_service_pb2.PublishRequest(envelope=message), timeout=TIMEOUT)


def refused(call: Callable[[], Any], code: grpc.StatusCode, reason: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    assert detail(status_of(caught.value), error_details_pb2.ErrorInfo).reason == reason


def progress(agency: str = POLICE, percent: int = 40) -> envelope_pb2.AgencyEventEnvelope:
    return envelope(agency, TASK, progress_reported={"percent": percent, "as_of": "2026-03-20"})


def task_progress(channel: grpc.Channel) -> int:
    stub = plan_service_pb2_grpc.PlanServiceStub(channel)
    return stub.GetTask(plan_service_pb2.GetTaskRequest(name=TASK), timeout=TIMEOUT).task.percent


def test_a_plaintext_anonymous_call_is_refused_before_anything_is_read(
    server: ServerThread,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
        stub = ingest_service_pb2_grpc.IngestServiceStub(plain)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Publish(ingest_service_pb2.PublishRequest(envelope=progress()), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # no TLS handshake, no call


def test_the_impersonation_chain_is_refused_at_every_step(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    health_post = tls_channel(HEALTH_POST)
    # As the police: claiming its task complete with evidence.
    claim = envelope(POLICE, TASK, (SIGNED,), completion_claimed={"note": "xong"})
    refused(
        lambda: publish(health_post, identities.signer(HEALTH_POST).sign(claim)),
        grpc.StatusCode.PERMISSION_DENIED,
        "AGENCY_NOT_CALLER",
    )
    # As the office: accepting evidence and confirming completion.
    review = review_service_pb2_grpc.ReviewServiceStub(health_post)
    accept = review_service_pb2.AcceptEvidenceRequest(
        request_id=str(uuid.uuid4()),
        reviewer=review_service_pb2.Reviewer(agency_id=OFFICE, person="Trưởng phòng (giả mạo)"),
        subject=TASK,
        sha256=SIGNED,
    )
    refused(
        lambda: review.AcceptEvidence(identities.signer(HEALTH_POST).sign(accept), timeout=TIMEOUT),
        grpc.StatusCode.PERMISSION_DENIED,
        "AGENCY_NOT_CALLER",
    )
    # Moving a deadline and amending a plan are the office's, not an agency's.
    change = review_service_pb2.ChangeDeadlineRequest(
        request_id=str(uuid.uuid4()),
        reviewer=review_service_pb2.Reviewer(agency_id=HEALTH_POST),
        subject=TASK,
        deadline="2027-12-31",
        reason="giả mạo",
    )
    refused(
        lambda: review.ChangeDeadline(identities.signer(HEALTH_POST).sign(change), timeout=TIMEOUT),
        grpc.StatusCode.PERMISSION_DENIED,
        "ROLE_NOT_ALLOWED",
    )
    assert task_progress(tls_channel(OFFICE)) == 0


def test_an_unsigned_envelope_is_refused(tls_channel: Callable[[str], grpc.Channel]) -> None:
    refused(
        lambda: publish(tls_channel(POLICE), progress()),
        grpc.StatusCode.UNAUTHENTICATED,
        "SIGNATURE_MISSING",
    )


def test_a_forged_signature_naming_the_agencys_key_is_refused(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    message = identities.signer(POLICE).sign(progress())
    message.signature.signature = bytes(64)
    refused(
        lambda: publish(tls_channel(POLICE), message),
        grpc.StatusCode.UNAUTHENTICATED,
        "SIGNATURE_INVALID",
    )


def test_a_signature_changed_content_no_longer_verifies(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    message = identities.signer(POLICE).sign(progress(percent=10))
    message.progress_reported.percent = 90
    refused(
        lambda: publish(tls_channel(POLICE), message),
        grpc.StatusCode.UNAUTHENTICATED,
        "SIGNATURE_INVALID",
    )


def test_a_valid_signature_by_another_agencys_key_is_refused(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    message = identities.signer(HEALTH_POST).sign(progress())
    refused(
        lambda: publish(tls_channel(POLICE), message),
        grpc.StatusCode.PERMISSION_DENIED,
        "KEY_NOT_OF_AGENCY",
    )


def test_a_revoked_key_signs_nothing_more_but_what_it_signed_stays(
    app: Ledger, tls_channel: Callable[[str], grpc.Channel]
) -> None:
    authority = identities.authority()
    certificate, key = authority.issue(POLICE, Role.AGENCY)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    registered = register_key(app, pem, identities.anchors(), identities.OPERATOR)
    second = Signer(certificate, key)
    before = publish(tls_channel(POLICE), second.sign(progress(percent=20)))
    assert before.verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED
    revoke_key(app, registered.key_id, "máy tính bị mất", identities.OPERATOR)
    refused(
        lambda: publish(tls_channel(POLICE), second.sign(progress(percent=30))),
        grpc.StatusCode.UNAUTHENTICATED,
        "KEY_REVOKED",
    )
    assert task_progress(tls_channel(OFFICE)) == 20


def test_a_key_whose_certificate_expired_is_refused(
    app: Ledger, tls_channel: Callable[[str], grpc.Channel]
) -> None:
    now = dt.datetime.now(dt.UTC)
    certificate, key = identities.authority().issue(
        POLICE,
        Role.AGENCY,
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=1),
    )
    earlier = Ledger(env=dict(app.env), clock=lambda: now - dt.timedelta(days=30))
    try:
        register_key(
            earlier,
            certificate.public_bytes(serialization.Encoding.PEM),
            identities.anchors(),
            identities.OPERATOR,
        )
    finally:
        earlier.close()
    refused(
        lambda: publish(tls_channel(POLICE), Signer(certificate, key).sign(progress())),
        grpc.StatusCode.UNAUTHENTICATED,
        "CERTIFICATE_EXPIRED",
    )


def test_a_certificate_from_an_untrusted_authority_is_refused(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    rogue = Authority.create("Rogue CA")
    certificate, key = rogue.issue(POLICE, Role.AGENCY)
    refused(
        lambda: publish(tls_channel(POLICE), Signer(certificate, key).sign(progress())),
        grpc.StatusCode.UNAUTHENTICATED,
        "CERTIFICATE_UNTRUSTED",
    )


def test_a_key_nobody_registered_is_unknown(tls_channel: Callable[[str], grpc.Channel]) -> None:
    certificate, key = identities.authority().issue(POLICE, Role.AGENCY)
    refused(
        lambda: publish(tls_channel(POLICE), Signer(certificate, key).sign(progress())),
        grpc.StatusCode.UNAUTHENTICATED,
        "KEY_UNKNOWN",
    )


def test_an_agency_may_not_move_a_deadline_by_envelope_either(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    moved = envelope(POLICE, TASK, deadline_changed={"deadline": "2027-12-31", "reason": "trễ"})
    refused(
        lambda: publish(tls_channel(POLICE), identities.signer(POLICE).sign(moved)),
        grpc.StatusCode.PERMISSION_DENIED,
        "ROLE_NOT_ALLOWED",
    )
