"""Submitting a command idempotently: every submission ends as exactly one receipt.

A :class:`Command` (decoded from an envelope or a review request) is applied in
memory; its changed aggregate and a :class:`~domain.submission.Submission` receipt
are saved in one transaction. A refusal saves a "rejected" receipt instead.

A submission is keyed by its event id within its scope (:attr:`Command.receipt_id`):
the sending agency's for an envelope, the reviewer's and the kind's for a review
request. A second submission with the same key and the same payload digest finds the
receipt and gets "duplicate"; with another payload it is refused as
``IDEMPOTENCY_KEY_REUSED`` naming the first payload's digest (that refusal kept on
record once, under a key of its own: :attr:`Command.reuse_id`). A writer that loses a
race on the same aggregate reloads and tries again.

A submission refused before its signature was verified (a malformed envelope, a
missing or bad signature, a caller sending in another agency's name) names its
agency but does not prove it: its receipt is keyed in a scope of its own,
:data:`UNVERIFIED`, by its event id AND its digest, so it can never pre-empt the
real agency's submission with that event id (an identical one re-sent still finds
its receipt).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.errors import DomainError, IdempotencyKeyReusedError, kind_of
from domain.ids import parse_ref
from domain.submission import Submission, submission_id
from services.app.identity import Signed
from services.app.ledger import Actor, Ledger
from services.store.recorder import StoreBusyError

RETRIES = 5
# The scope of the receipts of submissions refused before their signature was verified.
UNVERIFIED = "unverified"


class TryAgainError(Exception):
    """The submission was not recorded, and sending it again with the same id may
    succeed: other processes kept changing its subject (``SUBJECT_CONTENDED``), or the
    store's events table stayed locked (``STORE_BUSY``). ``retry_after``: seconds."""

    def __init__(self, reason: str, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class VerdictPendingError(Exception):
    """The submission is on its way (on Kafka, say) but its verdict is not recorded
    yet: the caller retries with the same event id."""


def review_scope(reviewer: str, kind: str) -> str:
    """The scope of a review request's id: its reviewer and the kind of review."""
    return f"review:{reviewer}:{kind}"


@dataclass(frozen=True)
class Command:
    """One submission, as plain values. ``digest``: the SHA-256 of its payload (see
    :mod:`services.wire.envelopes`); ``scope``: whose key ``event_id`` is — the acting
    agency's when empty (an envelope), else :func:`review_scope`, or :data:`UNVERIFIED`
    (refused before its signature was verified: keyed by event id and digest).
    ``signature``: the signature it was verified with (kept in its receipt)."""

    event_id: str
    kind: str
    subject: str
    actor: Actor
    args: dict[str, Any] = field(default_factory=dict)
    evidence: Sequence[dict[str, str]] = ()
    digest: str = ""
    origin: str = "grpc"
    raw: str = ""  # base64 of the received bytes, kept with a refusal
    scope: str = ""
    signature: Signed | None = None

    @property
    def receipt_id(self) -> UUID:
        """The id of this submission's receipt: its idempotency key."""
        if self.scope == UNVERIFIED:
            return submission_id(UNVERIFIED, f"{self.event_id}#{self.digest}")
        return submission_id(self.scope or self.actor.agency, self.event_id)

    def unverified(self) -> Command:
        """This command, keyed in the scope of submissions refused unverified."""
        return replace(self, scope=UNVERIFIED, signature=None)

    @property
    def reuse_id(self) -> UUID:
        """The id of the receipt that refuses this payload under a key first used for
        another one."""
        return submission_id(self.scope or self.actor.agency, f"{self.event_id}#{self.digest}")

    def reuses(self, first: Submission) -> bool:
        """Whether ``first``, the receipt under this command's key, was for another
        payload (receipts stored before digests were kept compare as the same)."""
        return bool(first.digest and self.digest) and first.digest != self.digest


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


def receipt_of(app: Ledger, receipt_id: UUID) -> Submission | None:
    if not app.exists(receipt_id):
        return None
    receipt: Submission = app.repository.get(receipt_id)
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

    def verdict(self, event_id: str) -> Verdict:
        """The verdict that answers this refusal."""
        return Verdict(
            event_id,
            "rejected",
            reason_code=self.code,
            message=self.message,
            field=self.field,
            kind=self.kind,
        )

    @classmethod
    def reuse(cls, command: Command, first: Submission) -> Refusal:
        """The refusal of ``command``, whose key ``first`` holds for another payload."""
        scope = command.scope or command.actor.agency
        message = (
            f"{command.event_id} already keys another submission of {scope}"
            f" (payload sha256 {first.digest}); a new submission needs a new id"
        )
        return cls.of(IdempotencyKeyReusedError(message))


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


def rejection(
    app: Ledger, command: Command, refusal: Refusal, receipt_id: UUID | None = None
) -> tuple[Submission, Verdict]:
    """The receipt (``receipt_id``, by default the command's) that keeps a refusal on
    record, and the verdict it answers."""
    receipt = Submission.reject(
        app.context(command.actor),
        id=receipt_id or command.receipt_id,
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
    return receipt, refusal.verdict(command.event_id)


def reject(
    app: Ledger, command: Command, refusal: Refusal, receipt_id: UUID | None = None
) -> Verdict | None:
    """Record the refusal; None when another writer recorded this receipt first."""
    receipt, verdict = rejection(app, command, refusal, receipt_id)
    try:
        app.save(receipt)
    except IntegrityError:
        return None
    return verdict


def answer_to_known(app: Ledger, command: Command, first: Submission) -> Verdict:
    """The verdict of ``command``, whose key ``first`` holds: "duplicate" for the same
    payload; for another, ``IDEMPOTENCY_KEY_REUSED`` (recorded unless it is already)."""
    if not command.reuses(first):
        return duplicate(app, first)
    refusal = Refusal.reuse(command, first)
    if not app.exists(command.reuse_id):
        reject(app, command, refusal, command.reuse_id)  # None: recorded meanwhile
    return refusal.verdict(command.event_id)


def known(app: Ledger, command: Command) -> Verdict | None:
    """The verdict of a command whose key is on record already; None when it is not."""
    receipt = receipt_of(app, command.receipt_id)
    return None if receipt is None else answer_to_known(app, command, receipt)


@contextmanager
def busy_means_try_again() -> Iterator[None]:
    """A write that could not get the events table's lock is a :class:`TryAgainError`."""
    try:
        yield
    except StoreBusyError as busy:
        raise TryAgainError("STORE_BUSY", f"{busy}; try again") from busy


def record_invalid(app: Ledger, command: Command, refusal: Refusal) -> Verdict:
    """Keep on record a submission too malformed to apply (the first verdict wins)."""
    with busy_means_try_again():
        return _record_invalid(app, command, refusal)


def _record_invalid(app: Ledger, command: Command, refusal: Refusal) -> Verdict:
    for _ in range(RETRIES):
        verdict = known(app, command)
        if verdict is not None:
            return verdict
        verdict = reject(app, command, refusal)
        if verdict is not None:
            return verdict
    msg = f"submission {command.event_id} kept conflicting; try again"
    raise TryAgainError("SUBJECT_CONTENDED", msg)


def acceptance(app: Ledger, command: Command, subject_version: int) -> Submission:
    """The receipt of an accepted command that made ``subject_version`` of its subject
    (with the signature it was verified with, if any)."""
    signed = command.signature
    return Submission.accept(
        app.context(command.actor),
        id=command.receipt_id,
        event_id=command.event_id,
        kind=command.kind,
        subject=command.subject,
        subject_version=subject_version,
        digest=command.digest,
        **({} if signed is None else signature_fields(signed)),
    )


def signature_fields(signed: Signed) -> dict[str, str]:
    """What an accepted receipt keeps of the signature it was verified with."""
    return {
        "key_id": signed.key_id,
        "algorithm": signed.algorithm,
        "signature": base64.b64encode(signed.signature).decode(),
        "signed": base64.b64encode(signed.payload).decode(),
    }


def submit(app: Ledger, command: Command) -> Verdict:
    """Apply ``command`` once, whatever happens around it: this process's writers of
    its subject take turns; a writer of another process that changed the subject
    meanwhile makes it reload and try again (up to :data:`RETRIES` times)."""
    with app.turns.of(command.subject), busy_means_try_again():
        return _submit(app, command)


def _submit(app: Ledger, command: Command) -> Verdict:
    for _ in range(RETRIES):
        verdict = known(app, command)
        if verdict is not None:
            return verdict
        try:
            aggregate = app.prepare(
                command.kind, command.subject, command.actor, command.args, command.evidence
            )
        except DomainError as error:
            verdict = reject(app, command, Refusal.of(error))
            if verdict is None:
                continue
            return verdict
        accepted = acceptance(app, command, aggregate.version)
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
    raise TryAgainError("SUBJECT_CONTENDED", msg)
