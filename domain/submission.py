"""A submission: one envelope or review request, identified by its idempotency key —
its event id within a scope (the sending agency; a reviewer and the kind of review).

Every submission ends as exactly one of: accepted (its domain events recorded in
the same transaction as this receipt) or rejected (with a stable reason code, kept
on record). Each receipt keeps the digest of the payload it was for. A second
submission with the same key and payload finds the receipt and gets the verdict
"duplicate" — nothing changes; with another payload it is refused
(``IDEMPOTENCY_KEY_REUSED``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.facts import Fact
from domain.ids import NAMESPACE


@lru_cache(maxsize=1 << 16)
def submission_id(scope: str, key: str) -> UUID:
    """The receipt id of the submission keyed ``key`` within ``scope`` (the length of
    ``scope`` keeps every pair apart, whatever characters they hold; remembered: the
    ingest asks for each envelope's several times within its batch)."""
    return uuid5(NAMESPACE, f"submission:{len(scope)}:{scope}:{key}")


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
        self.digest = ""
        self.key_id = ""

    class Created(Aggregate.Created):
        TOPIC = "lienthong.submission.Created"

    class Accepted(Created, Fact):
        """The submission's events were recorded; ``subject_version`` is the version
        of the subject's stream its last event made; ``digest`` the SHA-256 of the
        payload (version 1 kept none: "").

        The signature it was accepted with (version 3; "" when it was not signed):
        ``key_id`` (the registered key: its certificate is in the log), ``algorithm``,
        ``signature`` and ``signed`` — the signature and the exact bytes it covers,
        base64 — so that anyone can verify it again, offline, years later."""

        TOPIC = "lienthong.submission.Accepted"
        class_version = 3
        event_id: str
        kind: str
        subject: str
        subject_version: int
        digest: str
        key_id: str
        algorithm: str
        signature: str
        signed: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["digest"] = ""

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            for name in ("key_id", "algorithm", "signature", "signed"):
                state[name] = ""

        def apply(self, submission: Submission) -> None:
            submission.event_id = self.event_id
            submission.outcome = "accepted"
            submission.subject = self.subject
            submission.subject_version = self.subject_version
            submission.digest = self.digest
            submission.key_id = self.key_id

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
            submission.digest = self.digest

    @classmethod
    def accept(
        cls,
        ctx: Context,
        *,
        id: UUID,  # noqa: A002 - the receipt id, as the library names it
        event_id: str,
        kind: str,
        subject: str,
        subject_version: int,
        digest: str,
        key_id: str = "",
        algorithm: str = "",
        signature: str = "",
        signed: str = "",
    ) -> Submission:
        """The receipt ``id`` (see :func:`submission_id`) of an accepted submission,
        with the signature it was accepted with (base64), if any."""
        return cls._create(
            cls.Accepted,
            id=id,
            event_id=event_id,
            kind=kind,
            subject=subject,
            subject_version=subject_version,
            digest=digest,
            key_id=key_id,
            algorithm=algorithm,
            signature=signature,
            signed=signed,
            **ctx.event_fields(),
        )

    @classmethod
    def reject(
        cls,
        ctx: Context,
        *,
        id: UUID,  # noqa: A002 - the receipt id, as the library names it
        event_id: str,
        **details: Any,
    ) -> Submission:
        """The receipt ``id`` of a refused submission. ``details``: kind, subject,
        reason_code, message, field, digest, origin, raw."""
        return cls._create(
            cls.Rejected,
            id=id,
            event_id=event_id,
            **details,
            **ctx.event_fields(),
        )
