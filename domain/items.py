"""What tasks and indicators share: evidence, completion, review, obstacles.

A tracked item moves through these states::

    not_started → in_progress ────────→ submitted → completed
                     ↕ 100% reported      ↑
                  awaiting_evidence ──────┤ claimed with evidence
                  awaiting_completion ────┘ ← any evidence rejected

"Chờ minh chứng" (awaiting_evidence) and "Chờ hoàn thiện" (awaiting_completion)
are open: neither counts as done.
A task reported at 100% is not done: it awaits evidence until its completion is
claimed with evidence and confirmed (no back door around the evidence rule).

Rules (each violation a specific :mod:`domain.errors` error):
- completion is claimed by a lead unit and cites at least one evidence reference
  that was submitted and not rejected;
- only the item's monitoring unit, the plan's coordination office or its steering
  committee judges evidence;
- nobody judges their own work (separation of duties): a unit the item names as
  lead or helper never judges its evidence or confirms its completion, nor does the
  unit that submitted the evidence or claimed the completion (a member of a
  collective lead included). So where the monitor also leads, the coordination
  office reviews; the office's own items are reviewed by the steering committee
  (Ban Chỉ đạo) or the body the plan names in its place;
- rejected evidence returns the item to "Chờ hoàn thiện": it counts as not done;
- completion is confirmed by a reviewer once a cited evidence was accepted;
- what else an item needs to be complete is its own rule (:meth:`TrackedItem.check_complete`:
  an indicator's latest measurement meets its target), checked at the claim and again
  at the confirmation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from domain.clock import ward_day
from domain.context import Context
from domain.errors import (
    DuplicateEvidenceError,
    EvidenceAlreadyJudgedError,
    EvidenceRequiredError,
    EvidenceUriError,
    GroupItemError,
    InvalidValueError,
    ItemClosedError,
    MissingReasonError,
    NoPendingClaimError,
    NotCoordinatorError,
    NotLeadUnitError,
    NotParticipantError,
    NotReviewerError,
    SelfReviewError,
    UnknownEvidenceError,
    UnknownObstacleError,
)
from domain.facts import Fact
from domain.ids import Ref, SubjectKind

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MEDIA_TYPE = re.compile(r"^(application|audio|image|text|video)/[a-z0-9][a-z0-9.+-]{0,126}$")
# Where evidence may be: the web, and the evidence store's buckets (s3://BUCKET/KEY).
URI = re.compile(r"^(https://[^/?#\s]+|s3://[a-z0-9][a-z0-9.-]{0,62})(/[^\s]*)?$")


def check_evidence(sha256: str, uri: str, media_type: str) -> None:
    """A reference to evidence: its digest, where it is (https or the evidence store's
    s3 buckets, never ``..``) and its media type."""
    if not SHA256.match(sha256):
        raise InvalidValueError("evidence sha256 must be 64 lowercase hex digits", field="sha256")
    if not uri.strip():
        raise InvalidValueError("evidence uri is required", field="uri")
    if not URI.match(uri) or ".." in uri.split("/"):
        msg = "evidence uri must be https://HOST/… or s3://BUCKET/… (no '..')"
        raise EvidenceUriError(msg, field="uri")
    if not MEDIA_TYPE.match(media_type):
        msg = "evidence media_type must be TYPE/SUBTYPE of application, audio, image, text, video"
        raise InvalidValueError(msg, field="media_type")


class ItemStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    AWAITING_COMPLETION = "awaiting_completion"
    AWAITING_EVIDENCE = "awaiting_evidence"
    CANCELLED = "cancelled"

    @property
    def label_vi(self) -> str:
        return STATUS_LABELS_VI[self]

    @property
    def is_closed(self) -> bool:
        """Completed or cancelled: nothing more is expected of the item."""
        return self in (ItemStatus.COMPLETED, ItemStatus.CANCELLED)


STATUS_LABELS_VI = {
    ItemStatus.NOT_STARTED: "Chưa triển khai",
    ItemStatus.IN_PROGRESS: "Đang thực hiện",
    ItemStatus.SUBMITTED: "Chờ thẩm định",
    ItemStatus.COMPLETED: "Hoàn thành",
    ItemStatus.AWAITING_COMPLETION: "Chờ hoàn thiện",
    ItemStatus.AWAITING_EVIDENCE: "Chờ minh chứng",
    ItemStatus.CANCELLED: "Đã hủy",
}


class Quality(StrEnum):
    """The reviewer's verdict on the quality of evidence."""

    GOOD = "good"
    ADEQUATE = "adequate"
    LOW = "low"


class ObstacleKind(StrEnum):
    DIFFICULTY = "difficulty"  # khó khăn
    BLOCKER = "blocker"  # vướng mắc


@dataclass(frozen=True)
class Evidence:
    sha256: str
    uri: str
    media_type: str
    description: str
    submitted_by: str
    verdict: str | None = None
    quality: Quality | None = None
    submitted_on: date | None = None  # the ward's day it was submitted


def require_reason(reason: str, field: str = "reason") -> str:
    if not reason.strip():
        msg = "a reason is required"
        raise MissingReasonError(msg, field=field)
    return reason.strip()


def prune(definition: dict[str, Any]) -> dict[str, Any]:
    """Drop fields left empty, so equal content compares equal."""
    return {k: v for k, v in definition.items() if v not in (None, "", [], False)}


def require_coordinator(ctx: Context, coordinator: str) -> None:
    if ctx.agency != coordinator:
        msg = f"only the coordination office ({coordinator}) may do this, not {ctx.agency}"
        raise NotCoordinatorError(msg, field="agency")


class TrackedItem(Aggregate):
    """Base of :class:`~domain.task.Task` and :class:`~domain.indicator.Indicator`.

    ``definition`` is the item as it stands now; ``filed`` is the item as the plan
    file last stated it (assignment and amendments), so re-importing an unchanged
    file changes nothing even after the coordination office moved a deadline.
    """

    def __init__(self) -> None:
        self.plan = ""
        self.key = ""
        self.group = False
        self.definition: dict[str, Any] = {}
        self.filed: dict[str, Any] = {}
        self.lead: tuple[str, ...] = ()
        self.status = ItemStatus.NOT_STARTED
        self.evidence: dict[str, Evidence] = {}
        self.claim: tuple[str, ...] = ()
        self.claimed_by = ""  # the unit whose completion claim awaits review
        self.obstacles: dict[str, str] = {}
        self.completed_on: date | None = None  # the day completion was confirmed
        # the units that acted on the item: reported on it, measured it, submitted evidence
        self.acted_by: set[str] = set()

    KIND: ClassVar[SubjectKind]

    @property
    def ref(self) -> Ref:
        """The item's reference (``PLAN/task/KEY``, ``PLAN/indicator/NUMBER``)."""
        return Ref(self.KIND, self.plan, self.key)

    # Who may do what -------------------------------------------------------

    @property
    def participants(self) -> tuple[str, ...]:
        """Units that take part in the item (lead and helpers)."""
        return self.lead

    @property
    def implementers(self) -> tuple[str, ...]:
        """Units that carry the item out (lead and helpers): none of them judges it."""
        return self.lead

    @property
    def monitors(self) -> tuple[str, ...]:
        """Units that judge the item's evidence besides the coordination office."""
        return ()

    def _require_open(self) -> None:
        if self.group:
            msg = f"{self.key} only groups sub-items; report on them instead"
            raise GroupItemError(msg)
        if self.status is ItemStatus.CANCELLED:
            msg = f"{self.key} was cancelled"
            raise ItemClosedError(msg)

    def _require_lead(self, ctx: Context) -> None:
        if not ctx.acts_for(self.lead):
            msg = f"{ctx.agency} is not a lead unit of {self.key} (lead: {', '.join(self.lead)})"
            raise NotLeadUnitError(msg, field="agency")

    def _require_participant(self, ctx: Context) -> None:
        if not ctx.acts_for(self.participants):
            msg = f"{ctx.agency} takes no part in {self.key}"
            raise NotParticipantError(msg, field="agency")

    def _require_reviewer(
        self, ctx: Context, coordinator: str, steering_committee: str, author: str = ""
    ) -> None:
        """A reviewer of the item that the item does not name as lead or helper, judging
        no work of its own (``author``: who submitted the evidence or claimed the
        completion). A member of a collective lead or helper is barred only from its
        own work: the collectives of a ward count the office and the steering committee
        among their members, and an item led by "all agencies" must still be reviewed."""
        if ctx.agency in self.implementers or ctx.agency == author:
            part = "leads or helps with it" if ctx.agency in self.implementers else "did the work"
            msg = (
                f"{ctx.agency} may not judge its own work on {self.key} ({part}): a monitor "
                "that takes no part, the coordination office, or for the office's own items "
                "the steering committee judges it"
            )
            raise SelfReviewError(msg, field="agency")
        if ctx.agency not in (coordinator, steering_committee) and not ctx.acts_for(self.monitors):
            msg = (
                f"{ctx.agency} may not judge {self.key}: only its monitoring unit, "
                f"the coordination office ({coordinator}) or the steering committee may"
            )
            raise NotReviewerError(msg, field="agency")

    # Evidence --------------------------------------------------------------

    def submit_evidence(
        self, ctx: Context, *, sha256: str, uri: str, media_type: str, description: str
    ) -> None:
        self._require_open()
        self._require_participant(ctx)
        check_evidence(sha256, uri, media_type)
        if sha256 in self.evidence:
            msg = f"evidence {sha256[:12]}… was already submitted for {self.key}"
            raise DuplicateEvidenceError(msg, field="sha256")
        self.trigger_event(
            self.EvidenceSubmitted,
            sha256=sha256,
            uri=uri.strip(),
            media_type=media_type,
            description=description.strip(),
            **ctx.event_fields(),
        )

    class EvidenceSubmitted(Fact):
        sha256: str
        uri: str
        media_type: str
        description: str

        def apply(self, item: TrackedItem) -> None:
            item.evidence[self.sha256] = Evidence(
                self.sha256,
                self.uri,
                self.media_type,
                self.description,
                self.actor,
                submitted_on=ward_day(self.occurred_at),
            )
            item.acted_by.add(self.actor)

    def _judgeable(
        self, ctx: Context, sha256: str, coordinator: str, steering_committee: str
    ) -> Evidence:
        self._require_open()
        evidence = self.evidence.get(sha256)
        self._require_reviewer(
            ctx, coordinator, steering_committee, evidence.submitted_by if evidence else ""
        )
        if evidence is None:
            msg = f"no evidence {sha256[:12]}… was submitted for {self.key}"
            raise UnknownEvidenceError(msg, field="sha256")
        if evidence.verdict is not None:
            msg = f"evidence {sha256[:12]}… was already {evidence.verdict}"
            raise EvidenceAlreadyJudgedError(msg, field="sha256")
        return evidence

    def accept_evidence(
        self,
        ctx: Context,
        *,
        sha256: str,
        coordinator: str,
        quality: Quality,
        reason: str = "",
        steering_committee: str = "",
    ) -> None:
        self._judgeable(ctx, sha256, coordinator, steering_committee)
        self.trigger_event(
            self.EvidenceAccepted,
            sha256=sha256,
            quality=quality.value,
            reason=reason.strip(),
            **ctx.event_fields(),
        )

    class EvidenceAccepted(Fact):
        sha256: str
        quality: str
        reason: str

        def apply(self, item: TrackedItem) -> None:
            judged = replace(item.evidence[self.sha256], verdict="accepted")
            item.evidence[self.sha256] = replace(judged, quality=Quality(self.quality))

    def reject_evidence(
        self,
        ctx: Context,
        *,
        sha256: str,
        coordinator: str,
        reason: str,
        quality: Quality = Quality.LOW,
        steering_committee: str = "",
    ) -> None:
        """Reject evidence; the item goes back to "Chờ hoàn thiện"."""
        self._judgeable(ctx, sha256, coordinator, steering_committee)
        reason = require_reason(reason)
        fields = ctx.event_fields()
        self.trigger_event(
            self.EvidenceRejected, sha256=sha256, quality=quality.value, reason=reason, **fields
        )
        self.trigger_event(self.ReturnedForCompletion, sha256=sha256, reason=reason, **fields)

    class EvidenceRejected(Fact):
        sha256: str
        quality: str
        reason: str

        def apply(self, item: TrackedItem) -> None:
            judged = replace(item.evidence[self.sha256], verdict="rejected")
            item.evidence[self.sha256] = replace(judged, quality=Quality(self.quality))

    class ReturnedForCompletion(Fact):
        """The item went back to "Chờ hoàn thiện" and counts as not done."""

        sha256: str
        reason: str

        def apply(self, item: TrackedItem) -> None:
            item.status = ItemStatus.AWAITING_COMPLETION
            item.claim = ()
            item.claimed_by = ""
            item.completed_on = None

    # Completion ------------------------------------------------------------

    def claim_completion(self, ctx: Context, *, evidence: Sequence[str], note: str = "") -> None:
        self._require_open()
        self._require_lead(ctx)
        if self.status in (ItemStatus.SUBMITTED, ItemStatus.COMPLETED):
            msg = f"{self.key} is already {self.status.value}"
            raise ItemClosedError(msg)
        if not evidence:
            msg = f"claiming {self.key} complete needs at least one evidence reference"
            raise EvidenceRequiredError(msg, field="evidence")
        for sha256 in evidence:
            known = self.evidence.get(sha256)
            if known is None:
                msg = f"evidence {sha256[:12]}… was not submitted for {self.key}"
                raise UnknownEvidenceError(msg, field="evidence")
            if known.verdict == "rejected":
                msg = f"evidence {sha256[:12]}… was rejected and cannot support a claim"
                raise EvidenceRequiredError(msg, field="evidence")
        self.check_complete()
        self.trigger_event(
            self.CompletionClaimed, evidence=list(evidence), note=note.strip(), **ctx.event_fields()
        )

    class CompletionClaimed(Fact):
        evidence: list[str]
        note: str

        def apply(self, item: TrackedItem) -> None:
            item.status = ItemStatus.SUBMITTED
            item.claim = tuple(self.evidence)
            item.claimed_by = self.actor

    def confirm_completion(
        self, ctx: Context, *, coordinator: str, note: str = "", steering_committee: str = ""
    ) -> None:
        self._require_open()
        self._require_reviewer(ctx, coordinator, steering_committee, self.claimed_by)
        if self.status is not ItemStatus.SUBMITTED:
            msg = f"{self.key} has no completion claim awaiting review"
            raise NoPendingClaimError(msg)
        if not any(self.evidence[s].verdict == "accepted" for s in self.claim):
            msg = f"accept at least one evidence cited by the claim on {self.key} first"
            raise EvidenceRequiredError(msg, field="evidence")
        self.check_complete()
        self.trigger_event(self.CompletionConfirmed, note=note.strip(), **ctx.event_fields())

    class CompletionConfirmed(Fact):
        note: str

        def apply(self, item: TrackedItem) -> None:
            item.status = ItemStatus.COMPLETED
            item.completed_on = ward_day(self.occurred_at)

    def check_complete(self) -> None:
        """Refuse completion the item's own figures deny (none for a task: its evidence
        speaks for it)."""

    # Obstacles (khó khăn, vướng mắc) ----------------------------------------

    def raise_obstacle(
        self, ctx: Context, *, obstacle_id: str, kind: ObstacleKind, description: str
    ) -> None:
        self._require_open()
        self._require_participant(ctx)
        if not obstacle_id.strip():
            raise InvalidValueError("an obstacle id is required", field="obstacle_id")
        if obstacle_id in self.obstacles:
            msg = f"obstacle {obstacle_id} was already raised on {self.key}"
            raise InvalidValueError(msg, field="obstacle_id")
        self.trigger_event(
            self.ObstacleRaised,
            obstacle_id=obstacle_id,
            kind=kind.value,
            description=require_reason(description, "description"),
            **ctx.event_fields(),
        )

    class ObstacleRaised(Fact):
        obstacle_id: str
        kind: str
        description: str

        def apply(self, item: TrackedItem) -> None:
            item.obstacles[self.obstacle_id] = self.actor

    def resolve_obstacle(
        self, ctx: Context, *, obstacle_id: str, coordinator: str, resolution: str
    ) -> None:
        raiser = self.obstacles.get(obstacle_id)
        if raiser is None:
            msg = f"no open obstacle {obstacle_id} on {self.key}"
            raise UnknownObstacleError(msg, field="obstacle_id")
        if ctx.agency not in (raiser, coordinator):
            msg = f"only {raiser} or the coordination office may resolve obstacle {obstacle_id}"
            raise NotParticipantError(msg, field="agency")
        self.trigger_event(
            self.ObstacleResolved,
            obstacle_id=obstacle_id,
            resolution=require_reason(resolution, "resolution"),
            **ctx.event_fields(),
        )

    class ObstacleResolved(Fact):
        obstacle_id: str
        resolution: str

        def apply(self, item: TrackedItem) -> None:
            del item.obstacles[self.obstacle_id]

    # Amendment and cancellation (coordination office, through the plan) -----

    class Amended(Fact):
        """Fields of the item's definition changed by a plan amendment."""

        changes: dict[str, Any]
        reason: str
        document: str

        def apply(self, item: TrackedItem) -> None:
            item.apply_definition(self.changes)
            item.filed = prune({**item.filed, **self.changes})

    class Cancelled(Fact):
        reason: str
        document: str

        def apply(self, item: TrackedItem) -> None:
            item.status = ItemStatus.CANCELLED

    def amend(
        self,
        ctx: Context,
        *,
        coordinator: str,
        changes: dict[str, Any],
        reason: str,
        document: str,
    ) -> None:
        require_coordinator(ctx, coordinator)
        if changes:
            self.check_definition(prune({**self.definition, **changes}))
            self.trigger_event(
                self.Amended,
                changes=changes,
                reason=require_reason(reason),
                document=document,
                **ctx.event_fields(),
            )

    def cancel(self, ctx: Context, *, coordinator: str, reason: str, document: str) -> None:
        require_coordinator(ctx, coordinator)
        if self.status is not ItemStatus.CANCELLED:
            self.trigger_event(
                self.Cancelled,
                reason=require_reason(reason),
                document=document,
                **ctx.event_fields(),
            )

    def apply_definition(self, definition: dict[str, Any]) -> None:
        """Set the fields of the item's definition (assignment or amendment)."""
        raise NotImplementedError

    @classmethod
    def check_definition(cls, definition: dict[str, Any]) -> None:
        """Refuse a definition (whole, as it would stand) that the item cannot hold."""
        raise NotImplementedError

    def merge_definition(self, changes: dict[str, Any]) -> None:
        """Merge changed fields; a field changed to empty is dropped."""
        self.definition = prune({**self.definition, **changes})
