"""Submitting a command idempotently: every submission ends as exactly one receipt.

A :class:`Command` (decoded from an envelope or a review request) is applied in
memory; its changed aggregate and a :class:`~domain.submission.Submission` receipt
are saved in one transaction. A refusal saves a "rejected" receipt instead. A second
submission with the same event id finds the receipt and gets "duplicate". A writer
that loses a race on the same aggregate reloads and tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.errors import DomainError, kind_of
from domain.ids import parse_ref
from domain.submission import Submission, submission_id
from services.app.ledger import Actor, Ledger

RETRIES = 5


class ConflictPersistsError(Exception):
    """Other writers kept changing the subject; the submission was not recorded."""


class VerdictPendingError(Exception):
    """The submission is on its way (on Kafka, say) but its verdict is not recorded
    yet: the caller retries with the same event id."""


@dataclass(frozen=True)
class Command:
    """One submission, as plain values."""

    event_id: str
    kind: str
    subject: str
    actor: Actor
    args: dict[str, Any] = field(default_factory=dict)
    evidence: Sequence[dict[str, str]] = ()
    digest: str = ""
    origin: str = "grpc"
    raw: str = ""  # base64 of the received bytes, kept with a refusal


@dataclass(frozen=True)
class Verdict:
    """What became of a submission."""

    event_id: str
    outcome: str  # "accepted", "duplicate" or "rejected"
    position: int = 0
    reason_code: str = ""
    message: str = ""
    field: str = ""
    kind: str = ""  # the error's kind (invalid, forbidden, ...) when rejected
    first_outcome: str = ""
    subject_version: int = 0


def receipt_of(app: Ledger, event_id: str) -> Submission | None:
    if not app.exists(submission_id(event_id)):
        return None
    receipt: Submission = app.repository.get(submission_id(event_id))
    return receipt


def position_of(app: Ledger, subject: str, version: int) -> int:
    """The log position of the event that made ``version`` of ``subject``."""
    return app.position(parse_ref(subject).id, version)


def duplicate(app: Ledger, receipt: Submission) -> Verdict:
    position = (
        position_of(app, receipt.subject, receipt.subject_version) if receipt.subject_version else 0
    )
    return Verdict(
        receipt.event_id,
        "duplicate",
        position=position,
        reason_code=receipt.reason_code,
        message=receipt.message,
        first_outcome=receipt.outcome,
        subject_version=receipt.subject_version,
    )


@dataclass(frozen=True)
class Refusal:
    """Why a submission was refused: a domain rule's code, or the request's own."""

    code: str
    kind: str
    message: str
    field: str = ""

    @classmethod
    def of(cls, error: DomainError) -> Refusal:
        return cls(error.code, error.kind, error.message, error.field or "")


def first_verdict(app: Ledger, receipt: Submission) -> Verdict:
    """The verdict a receipt recorded, as its submitter first heard it."""
    if receipt.outcome == "accepted":
        position = position_of(app, receipt.subject, receipt.subject_version)
        return Verdict(
            receipt.event_id, "accepted", position=position, subject_version=receipt.subject_version
        )
    return Verdict(
        receipt.event_id,
        "rejected",
        reason_code=receipt.reason_code,
        message=receipt.message,
        field=receipt.field,
        kind=kind_of(receipt.reason_code),
    )


def rejection(app: Ledger, command: Command, refusal: Refusal) -> tuple[Submission, Verdict]:
    """The receipt that keeps a refusal on record, and the verdict it answers."""
    receipt = Submission.reject(
        app.context(command.actor),
        event_id=command.event_id,
        kind=command.kind,
        subject=command.subject,
        reason_code=refusal.code,
        message=refusal.message,
        field=refusal.field,
        digest=command.digest,
        origin=command.origin,
        raw=command.raw,
    )
    verdict = Verdict(
        command.event_id,
        "rejected",
        reason_code=refusal.code,
        message=refusal.message,
        field=refusal.field,
        kind=refusal.kind,
    )
    return receipt, verdict


def reject(app: Ledger, command: Command, refusal: Refusal) -> Verdict | None:
    """Record the refusal; None when another writer recorded this event id first."""
    receipt, verdict = rejection(app, command, refusal)
    try:
        app.save(receipt)
    except IntegrityError:
        return None
    return verdict


def record_invalid(app: Ledger, command: Command, refusal: Refusal) -> Verdict:
    """Keep on record a submission too malformed to apply (the first verdict wins)."""
    for _ in range(RETRIES):
        receipt = receipt_of(app, command.event_id)
        if receipt is not None:
            return duplicate(app, receipt)
        verdict = reject(app, command, refusal)
        if verdict is not None:
            return verdict
    msg = f"submission {command.event_id} kept conflicting"
    raise ConflictPersistsError(msg)


def submit(app: Ledger, command: Command) -> Verdict:
    """Apply ``command`` once, whatever happens around it."""
    for _ in range(RETRIES):
        receipt = receipt_of(app, command.event_id)
        if receipt is not None:
            return duplicate(app, receipt)
        try:
            aggregate = app.prepare(
                command.kind, command.subject, command.actor, command.args, command.evidence
            )
        except DomainError as error:
            verdict = reject(app, command, Refusal.of(error))
            if verdict is None:
                continue
            return verdict
        accepted = Submission.accept(
            app.context(command.actor),
            event_id=command.event_id,
            kind=command.kind,
            subject=command.subject,
            subject_version=aggregate.version,
        )
        try:
            recordings = app.save(aggregate, accepted)
        except IntegrityError:
            continue
        position = max(
            r.notification.id for r in recordings if r.domain_event.originator_id == aggregate.id
        )
        return Verdict(
            command.event_id, "accepted", position=position, subject_version=aggregate.version
        )
    msg = f"{command.subject} kept changing under {RETRIES} attempts; try again"
    raise ConflictPersistsError(msg)
