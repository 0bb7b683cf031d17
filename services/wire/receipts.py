"""Verifying a stored submission's signature again, offline, from the log alone.

An accepted receipt (:class:`~domain.submission.Submission.Accepted`, version 3) keeps
the id of the key that signed it, the algorithm, the signature and the exact bytes it
covers; the key's certificate is in the log (its ``SigningKey.Registered`` event),
rotated or revoked since or not. :func:`verify_receipt` checks, with nothing but the
store and the trust anchors:

1. the certificate recorded for the key is the one the key id names (its SHA-256),
   was issued by a trust anchor and was valid when the receipt was recorded, names
   the receipt's agency, and was not revoked before then;
2. the signature verifies over the signed bytes with that certificate's key;
3. the signed bytes are the submission's own: their SHA-256 is the receipt's digest,
   and they decode to an envelope (or, for a review, its request) with the receipt's
   event id, agency, kind and subject.

Its outcome is "verified", "unsigned" (a receipt kept no signature: recorded before
signatures were verified, or a refusal — nothing to verify) or "failed" (with why).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from google.protobuf.message import DecodeError, Message
from lienthong.v1 import envelope_pb2
from lienthong.v1 import review_service_pb2 as review_pb

from domain.errors import DomainError
from domain.keys import SigningKey, signing_key_id
from domain.submission import Submission, submission_id
from services.app.identity import (
    Signed,
    TrustAnchors,
    identity_of,
    key_id_of,
    load_certificate,
    verify_signature,
)
from services.app.ledger import Ledger
from services.app.submissions import review_scope

REVIEW_CHANNEL = "grpc-review"
# The request each kind of review is sent as (what its signature covers).
REVIEW_REQUESTS: dict[str, type[Message]] = {
    "evidence_accepted": review_pb.AcceptEvidenceRequest,
    "evidence_rejected": review_pb.RejectEvidenceRequest,
    "completion_confirmed": review_pb.ConfirmCompletionRequest,
    "deadline_changed": review_pb.ChangeDeadlineRequest,
    "dependency_declared": review_pb.DeclareDependencyRequest,
    "dependency_withdrawn": review_pb.WithdrawDependencyRequest,
    "plan_amended": review_pb.AmendPlanRequest,
}
VERIFIED, UNSIGNED, FAILED = "verified", "unsigned", "failed"


class ReceiptNotFoundError(LookupError):
    """No receipt of that submission (or at that position) is on record."""


@dataclass(frozen=True)
class SignatureCheck:
    """What re-verifying one receipt found."""

    outcome: str  # VERIFIED, UNSIGNED or FAILED
    event_id: str
    agency: str
    kind: str
    subject: str
    recorded_at: str
    key_id: str = ""
    algorithm: str = ""
    signer: str = ""  # the certificate's subject
    reason: str = ""  # a stable code when it failed or is unsigned
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def receipt_event(app: Ledger, receipt_id: UUID) -> Any:
    """The event that recorded the receipt ``receipt_id``, or None."""
    stored = app.recorder.select_events(receipt_id, limit=1)
    return app.mapper.to_domain_event(stored[0]) if stored else None


def find_receipt(app: Ledger, event_id: str, agency: str) -> Any:
    """The receipt event of ``agency``'s submission ``event_id``: an envelope's, else
    a review's (of any kind)."""
    scopes = [agency, *(review_scope(agency, kind) for kind in REVIEW_REQUESTS)]
    for scope in scopes:
        event = receipt_event(app, submission_id(scope, event_id))
        if event is not None:
            return event
    msg = f"no submission {event_id!r} of {agency!r} is on record"
    raise ReceiptNotFoundError(msg)


def receipt_at(app: Ledger, position: int) -> Any:
    """The receipt of the event at log ``position`` (a receipt, or an event a
    submission recorded: its receipt is found by its message id and actor)."""
    notifications = app.recorder.select_notifications(position, 1)
    if not notifications or notifications[0].id != position:
        raise ReceiptNotFoundError(f"nothing is recorded at position {position}")
    event: Any = app.mapper.to_domain_event(notifications[0])
    if isinstance(event, Submission.Created):
        return event
    try:
        return find_receipt(app, event.message_id, event.actor)
    except ReceiptNotFoundError:
        msg = f"the event at position {position} was recorded by no signed submission"
        raise ReceiptNotFoundError(msg) from None


def verify_receipt(app: Ledger, receipt: Any, anchors: TrustAnchors) -> SignatureCheck:
    """Verify ``receipt`` (a receipt event) again: see the module's docstring."""
    base = SignatureCheck(
        UNSIGNED,
        receipt.event_id,
        receipt.actor,
        receipt.kind,
        receipt.subject,
        receipt.timestamp.isoformat(),
    )
    if not isinstance(receipt, Submission.Accepted):
        detail = "a refused submission: nothing was recorded in its name"
        return _with(base, UNSIGNED, "REFUSED", detail)
    if not receipt.key_id:
        detail = "accepted before signatures were kept: nothing to verify"
        return _with(base, UNSIGNED, "UNSIGNED", detail)
    base = _with(base, FAILED, key_id=receipt.key_id, algorithm=receipt.algorithm)
    try:
        signer = _verified(app, receipt, anchors)
    except DomainError as error:
        return _with(base, FAILED, error.code, error.message)
    except _FailedError as failed:
        return _with(base, FAILED, failed.code, failed.detail, signer=failed.signer)
    return _with(base, VERIFIED, signer=signer)


class _FailedError(Exception):
    def __init__(self, code: str, detail: str, signer: str = "") -> None:
        super().__init__(detail)
        self.code, self.detail, self.signer = code, detail, signer


def _with(
    check: SignatureCheck, outcome: str, reason: str = "", detail: str = "", **more: str
) -> SignatureCheck:
    values = {**check.as_dict(), "outcome": outcome, "reason": reason, "detail": detail, **more}
    return SignatureCheck(**values)


def _verified(app: Ledger, receipt: Submission.Accepted, anchors: TrustAnchors) -> str:
    """The subject of the certificate that verifies ``receipt``; else raises why not."""
    if receipt_event(app, signing_key_id(receipt.key_id)) is None:
        raise _FailedError("KEY_UNKNOWN", f"no key {receipt.key_id} is in the log")
    key: SigningKey = app.repository.get(signing_key_id(receipt.key_id))
    certificate = load_certificate(key.certificate.encode())
    signer = certificate.subject.rfc4514_string()
    if key_id_of(certificate) != receipt.key_id:
        raise _FailedError("KEY_UNKNOWN", "the certificate on record is not the key's", signer)
    at = receipt.timestamp
    anchors.check(certificate, at)
    if identity_of(certificate).name != receipt.actor or key.agency != receipt.actor:
        detail = f"the key is {key.agency}'s, the receipt {receipt.actor}'s"
        raise _FailedError("KEY_NOT_OF_AGENCY", detail, signer)
    if key.revoked_at is not None and key.revoked_at <= at:
        detail = f"the key was revoked at {key.revoked_at.isoformat()}, before the receipt"
        raise _FailedError("KEY_REVOKED", detail, signer)
    try:
        signature = base64.b64decode(receipt.signature, validate=True)
        payload = base64.b64decode(receipt.signed, validate=True)
    except ValueError:
        raise _FailedError("SIGNATURE_INVALID", "the receipt's base64 is damaged", signer) from None
    verify_signature(certificate, Signed(receipt.key_id, receipt.algorithm, signature, payload))
    if receipt.digest and hashlib.sha256(payload).hexdigest() != receipt.digest:
        detail = "the signed bytes are not those of the receipt's digest"
        raise _FailedError("SIGNED_BYTES_MISMATCH", detail, signer)
    mismatch = _mismatch(receipt, payload)
    if mismatch:
        raise _FailedError("SIGNED_BYTES_MISMATCH", mismatch, signer)
    return signer


def _mismatch(receipt: Submission.Accepted, payload: bytes) -> str:
    """How the signed bytes differ from the receipt ("" when they match)."""
    review = receipt.channel == REVIEW_CHANNEL
    cls = REVIEW_REQUESTS.get(receipt.kind) if review else envelope_pb2.AgencyEventEnvelope
    if cls is None:
        return f"no request of kind {receipt.kind!r} is signed"
    message: Any = cls()
    try:
        message.ParseFromString(payload)
    except DecodeError:
        return f"the signed bytes are no {cls.__name__}"
    if review:
        subject = getattr(message, "subject", "") or getattr(message, "plan_id", "")
        found = (message.request_id, message.reviewer.agency_id, receipt.kind, subject)
    else:
        found = (
            message.event_id,
            message.agency_id,
            message.WhichOneof("payload"),
            message.subject,
        )
    wanted = (receipt.event_id, receipt.actor, receipt.kind, receipt.subject)
    names = ("event id", "agency", "kind", "subject")
    for name, got, want in zip(names, found, wanted, strict=True):
        if name == "subject" and receipt.kind == "plan_amended":
            continue  # the plan file names it
        if got != want:
            return f"the signed {name} is {got!r}, the receipt's {want!r}"
    return ""
