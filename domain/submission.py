"""A submission: one envelope or review request, identified by its event id.

Every submission ends as exactly one of: accepted (its domain events recorded in
the same transaction as this receipt) or rejected (with a stable reason code, kept
on record). A second submission with the same event id finds the receipt and gets
the verdict "duplicate" — nothing changes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.facts import Fact
from domain.ids import NAMESPACE


def submission_id(event_id: str) -> UUID:
    return uuid5(NAMESPACE, f"submission:{event_id}")


class Submission(Aggregate):
    TOPIC = "lienthong.Submission"

    def __init__(self) -> None:
        self.event_id = ""
        self.outcome = ""
        self.subject = ""
        self.subject_version = 0
        self.reason_code = ""
        self.message = ""
        self.field = ""

    class Created(Aggregate.Created):
        TOPIC = "lienthong.submission.Created"

    class Accepted(Created, Fact):
        """The submission's events were recorded; ``subject_version`` is the version
        of the subject's stream its last event made."""

        TOPIC = "lienthong.submission.Accepted"
        event_id: str
        kind: str
        subject: str
        subject_version: int

        def apply(self, submission: Submission) -> None:
            submission.event_id = self.event_id
            submission.outcome = "accepted"
            submission.subject = self.subject
            submission.subject_version = self.subject_version

    class Rejected(Created, Fact):
        """The submission was refused for ``reason_code``; nothing else was recorded.

        ``origin`` says where it came from (``agency-events:3:1042`` for a Kafka
        topic, partition and offset; ``grpc`` otherwise); ``raw`` keeps the received
        bytes (base64) so the refusal can be copied to ``agency-events.rejected``."""

        TOPIC = "lienthong.submission.Rejected"
        event_id: str
        kind: str
        subject: str
        reason_code: str
        message: str
        field: str
        digest: str
        origin: str
        raw: str

        def apply(self, submission: Submission) -> None:
            submission.event_id = self.event_id
            submission.outcome = "rejected"
            submission.subject = self.subject
            submission.reason_code = self.reason_code
            submission.message = self.message
            submission.field = self.field

    @classmethod
    def accept(
        cls, ctx: Context, *, event_id: str, kind: str, subject: str, subject_version: int
    ) -> Submission:
        return cls._create(
            cls.Accepted,
            id=submission_id(event_id),
            event_id=event_id,
            kind=kind,
            subject=subject,
            subject_version=subject_version,
            **ctx.event_fields(),
        )

    @classmethod
    def reject(cls, ctx: Context, *, event_id: str, **details: Any) -> Submission:
        """``details``: kind, subject, reason_code, message, field, digest, origin, raw."""
        return cls._create(
            cls.Rejected,
            id=submission_id(event_id),
            event_id=event_id,
            **details,
            **ctx.event_fields(),
        )
