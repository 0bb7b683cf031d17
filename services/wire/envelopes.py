"""Envelopes in, commands out, for every transport.

An envelope arrives as bytes (a Kafka record) or already parsed (a gRPC request). It
is read ONCE into a :class:`Received`: the checked command it carries, or, when it is
malformed, the command as far as it is known with the refusal that keeps it on record
(every envelope ends as a receipt, malformed ones included):

- bytes that are no envelope at all: ``UNDECODABLE``, keyed ``sha256:<digest>``, agency
  "unknown";
- an envelope with invalid fields: its code (:attr:`RequestInvalidError.code`: the
  reason of the first of them, say ``TEXT_CONTROL_CHARACTER``, or ``INVALID_REQUEST``),
  naming that field (:attr:`Received.invalid` lists them
  all), keyed by its event id when that is a UUID, else ``sha256:<digest>``; its
  agency, else "unknown"; its payload's kind and its subject as given — the agency
  and subject only when they are text a record may hold (:mod:`services.wire.text`).

Both are refused before anything proves who sent them: their receipts are keyed in
the scope :data:`~services.app.submissions.UNVERIFIED` (by event id and digest).

The digest is the envelope's, whichever channel brought it: the SHA-256 of its
canonical bytes (:func:`canonical_bytes`: its deterministic serialization with the
signature cleared — what the signature covers), computed once — of the bytes
received only when they are no envelope. It tells a re-sent envelope (same event id,
same digest: a duplicate, even signed again) from another payload under a reused
event id. Bytes received are kept (base64) with the command, so that a refusal can
be copied to ``agency-events.rejected``.

An envelope that is well formed is then *verified* (:func:`verified`, on every
channel): signed by a registered, unrevoked key of the agency it names, whose
certificate a trust anchor issued and is valid now (the server's clock). A refusal
then is kept on record like a malformed envelope's, with its code (``SIGNATURE_*``,
``KEY_*``, ``CERTIFICATE_*``); an envelope that passes carries its signature into its
accepted receipt.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.message import DecodeError, Message
from lienthong.v1 import envelope_pb2

from domain.errors import DomainError
from domain.ids import Ref
from domain.keys import RoleNotAllowedError
from domain.text import bounded
from services.app.identity import Signed, TrustAnchors, check_signed
from services.app.ledger import Actor, Cache, Ledger
from services.app.submissions import Command, Refusal, Verdict
from services.wire.convert import Checker, evidence_of, from_timestamp, payload_args
from services.wire.roles import may_send
from services.wire.text import text_or
from services.wire.violations import RequestInvalidError

UNDECODABLE = "UNDECODABLE"
UNKNOWN_AGENCY = "unknown"


@dataclass(frozen=True)
class Received:
    """One envelope as received: its command, and why it is refused if it is."""

    command: Command
    refusal: Refusal | None = None
    invalid: RequestInvalidError | None = None  # every invalid field (a parsed envelope)
    ref: Ref | None = None  # the subject, parsed (an envelope that is not refused)
    signed: Signed | None = None  # its signature, as received (unverified)

    def rejected(self) -> Verdict:
        """The verdict that answers a refused envelope."""
        refusal = self.refusal
        if refusal is None:
            msg = f"{self.command.event_id} is not refused"
            raise ValueError(msg)
        return refusal.verdict(self.command.event_id)


def receive(data: bytes | envelope_pb2.AgencyEventEnvelope, channel: str, origin: str) -> Received:
    """An envelope's bytes (or the envelope, parsed) read into its command, or into
    the command as far as it is known and its refusal. ``channel`` is the actor's
    channel; ``origin`` says where it came from (``topic:partition:offset``, ``grpc``)."""
    if isinstance(data, envelope_pb2.AgencyEventEnvelope):
        envelope = data
        raw = ""
    else:
        raw = base64.b64encode(data).decode()
        envelope = envelope_pb2.AgencyEventEnvelope()
        try:
            envelope.ParseFromString(data)
        except DecodeError as error:
            digest = hashlib.sha256(data).hexdigest()
            event_id = f"sha256:{digest}"
            actor = Actor(agency=UNKNOWN_AGENCY, channel=channel, message_id=event_id)
            command = Command(event_id, "", "", actor, digest=digest, origin=origin, raw=raw)
            refusal = Refusal(UNDECODABLE, "invalid", str(error) or UNDECODABLE)
            return Received(command.unverified(), refusal)
    payload = canonical_bytes(envelope)
    received = _checked(envelope, channel, hashlib.sha256(payload).hexdigest(), origin, raw)
    return replace(received, signed=signed_of(envelope, payload))


def canonical_bytes(message: Message) -> bytes:
    """The bytes a signature covers: ``message`` (an envelope or a review request)
    deterministically serialised with its ``signature`` cleared."""
    if not message.HasField("signature"):
        return message.SerializeToString(deterministic=True)
    unsigned = type(message)()
    unsigned.CopyFrom(message)
    unsigned.ClearField("signature")
    return unsigned.SerializeToString(deterministic=True)


def digest_of(message: Message) -> str:
    """The SHA-256 (hex) of a request's canonical bytes: the same for the same
    content, however it was encoded when received, and whoever signed it."""
    return hashlib.sha256(canonical_bytes(message)).hexdigest()


def signed_of(message: Message, payload: bytes | None = None) -> Signed | None:
    """The signature of ``message`` (an envelope or a review request) as received,
    over its canonical bytes (``payload`` when computed already); None when unsigned."""
    if not message.HasField("signature"):
        return None
    signature: Any = message.signature  # type: ignore[attr-defined]
    return Signed(
        key_id=signature.key_id,
        algorithm=signature.algorithm,
        signature=signature.signature,
        payload=canonical_bytes(message) if payload is None else payload,
        certificate=signature.certificate,
    )


def verified(  # noqa: PLR0917 - what, by whom, against what, when, as found
    app: Ledger,
    received: Received,
    anchors: TrustAnchors,
    at: dt.datetime,
    cache: Cache | None = None,
    holds: bool | None = None,
) -> Received:
    """``received`` once its signature is verified at ``at`` (its command then carries
    the signature into its receipt), or refused with the specific code (keyed
    unverified). A refused envelope stays as it is. ``holds``: whether the signature
    holds for the key its id names, when found already (:mod:`services.kafka.signatures`)."""
    if received.refusal is not None:
        return received
    command = received.command
    try:
        agency = command.actor.agency
        key = check_signed(app, agency, received.signed, anchors, at, cache, holds)
        if not may_send(key.role, command.kind):
            msg = f"a {key.role.value} does not send {command.kind} (docs/roles.md)"
            raise RoleNotAllowedError(msg, field="envelope.payload")
    except DomainError as error:
        return refused(received, error)
    return replace(received, command=replace(command, signature=received.signed))


def refused(received: Received, error: DomainError) -> Received:
    """``received`` refused for ``error`` before its sender was verified."""
    return Received(received.command.unverified(), Refusal.of(error), signed=received.signed)


def _checked(
    envelope: envelope_pb2.AgencyEventEnvelope, channel: str, digest: str, origin: str, raw: str
) -> Received:
    """The command of a parsed envelope, every field checked."""
    check = Checker()
    check.texts(envelope, "envelope.")
    event_id = check.uuid("envelope.event_id", envelope.event_id)
    if any(v.field == "envelope.event_id" for v in check.violations):  # unusable as a key
        event_id = f"sha256:{digest}"
    agency = check.required("envelope.agency_id", envelope.agency_id)
    ref = check.reference("envelope.subject", envelope.subject)
    if not envelope.HasField("occurred_at"):
        check.add("envelope.occurred_at", "is required", "FIELD_REQUIRED")
    kind = envelope.WhichOneof("payload")
    args: dict[str, Any] = {}
    if kind is None:
        check.add("envelope.payload", "one payload is required", "FIELD_REQUIRED")
    else:
        args = payload_args(check, kind, getattr(envelope, kind))
    evidence = evidence_of(check, envelope.evidence)
    if kind == "evidence_submitted" and not evidence:
        check.add(
            "envelope.evidence", "evidence_submitted needs at least one reference", "FIELD_REQUIRED"
        )
    if check.violations:
        actor = Actor(agency=UNKNOWN_AGENCY)
        known = Command(event_id, kind or "", "", actor, digest=digest, origin=origin, raw=raw)
        return _refused(
            envelope, known.unverified(), RequestInvalidError(check.violations), channel
        )
    actor = Actor(
        agency=agency,
        person=envelope.person or None,
        channel=channel,
        message_id=event_id,
        occurred_at=from_timestamp(envelope.occurred_at),
    )
    command = Command(
        event_id, kind or "", envelope.subject, actor, args, evidence, digest, origin, raw
    )
    return Received(command, ref=ref)


def _refused(
    envelope: envelope_pb2.AgencyEventEnvelope,
    known: Command,
    invalid: RequestInvalidError,
    channel: str,
) -> Received:
    """The refusal of an envelope with invalid fields. Its receipt keeps the agency and
    the subject only when they are text a record may hold (else "unknown" and ""), and
    a bounded message: the views read receipts, and no view must choke on one."""
    agency = text_or(envelope.agency_id, "agency_id", "") or UNKNOWN_AGENCY
    actor = Actor(agency=agency, channel=channel, message_id=known.event_id)
    command = replace(known, subject=text_or(envelope.subject, "subject", ""), actor=actor)
    first = invalid.violations[0].field
    refusal = Refusal(invalid.code, "invalid", bounded(str(invalid)), first)
    return Received(command, refusal, invalid)
