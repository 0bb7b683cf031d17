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

The digest is the envelope's, whichever channel brought it: the SHA-256 of its
deterministic serialization (:func:`digest_of`), computed once — of the bytes
received only when they are no envelope. It tells a re-sent envelope (same event id,
same digest: a duplicate) from another payload under a reused event id. Bytes
received are kept (base64) with the command, so that a refusal can be copied to
``agency-events.rejected``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.message import DecodeError, Message
from lienthong.v1 import envelope_pb2

from domain.ids import Ref
from domain.text import bounded
from services.app.ledger import Actor
from services.app.submissions import Command, Refusal, Verdict
from services.wire.convert import Checker, evidence_of, from_timestamp, payload_args
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
            return Received(command, Refusal(UNDECODABLE, "invalid", str(error) or UNDECODABLE))
    return _checked(envelope, channel, digest_of(envelope), origin, raw)


def digest_of(message: Message) -> str:
    """The SHA-256 (hex) of a request's deterministic serialization: the same for the
    same content, however it was encoded when received."""
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


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
        return _refused(envelope, known, RequestInvalidError(check.violations), channel)
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
