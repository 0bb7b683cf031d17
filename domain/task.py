"""A task (nhiệm vụ) of a plan: assigned to lead units, helped by coordinating units.

Rules: only a lead unit reports overall progress or claims completion; a
coordinating unit reports its own contribution; percent is within 0–100; a task
reported at 100% awaits evidence ("Chờ minh chứng") — it is not done until its
completion is claimed with evidence and confirmed; progress goes down only through
a correction of an earlier report, with a reason; only the coordination office
changes the deadline, naming the reason and the document that authorises it.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.deadlines import parse_deadline
from domain.errors import (
    InvalidValueError,
    ItemClosedError,
    PercentOutOfRangeError,
    ProgressDecreaseError,
    UnknownReportError,
    reject_unknown_fields,
)
from domain.facts import Fact, topical
from domain.ids import SubjectKind
from domain.items import ItemStatus, TrackedItem, require_coordinator, require_reason

TASK_FIELDS = (
    "number",
    "parent",
    "group",
    "from_body",
    "section",
    "section_title",
    "text",
    "lead",
    "lead_text",
    "coordinating",
    "coordinating_text",
    "expected_result",
    "deadline",
    "budget_million_vnd",
    "note",
)
# The statuses a progress report or correction settles (see Task.settle_progress).
REPORTED = (ItemStatus.NOT_STARTED, ItemStatus.IN_PROGRESS, ItemStatus.AWAITING_EVIDENCE)


def check_percent(percent: int) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:  # noqa: PLR2004
        msg = f"percent must be a whole number from 0 to 100, not {percent!r}"
        raise PercentOutOfRangeError(msg, field="percent")
    return percent


class Task(TrackedItem):
    TOPIC = "lienthong.Task"
    KIND = SubjectKind.TASK

    def __init__(self) -> None:
        super().__init__()
        self.coordinating: tuple[str, ...] = ()
        self.deadline = parse_deadline(None)
        self.percent = 0
        self.reports: dict[int, int] = {}
        self.report_days: dict[int, date] = {}  # the day each progress report refers to
        self.last_as_of: date | None = None  # the day the latest report refers to

    def apply_definition(self, definition: dict[str, Any]) -> None:
        self.merge_definition(definition)
        self.group = bool(self.definition.get("group"))
        self.lead = tuple(self.definition.get("lead", ()))
        self.coordinating = tuple(self.definition.get("coordinating", ()))
        self.deadline = parse_deadline(self.definition.get("deadline"))

    @property
    def participants(self) -> tuple[str, ...]:
        return self.lead + self.coordinating

    @property
    def implementers(self) -> tuple[str, ...]:
        return self.participants

    @classmethod
    def check_definition(cls, definition: dict[str, Any]) -> None:
        reject_unknown_fields(definition, TASK_FIELDS, "task")
        parse_deadline(definition.get("deadline"))

    # Assignment ------------------------------------------------------------

    class Created(Aggregate.Created):
        TOPIC = "lienthong.task.Created"

    class Assigned(Created, Fact):
        """A plan assigned the task (section, number, text, units, result, deadline, budget)."""

        TOPIC = "lienthong.task.Assigned"
        class_version = 1
        plan: str
        key: str
        definition: dict[str, Any]

        def apply(self, task: Task) -> None:
            task.plan = self.plan
            task.key = self.key
            task.apply_definition(self.definition)
            task.filed = dict(task.definition)

    @classmethod
    def assign(
        cls,
        ctx: Context,
        *,
        id: UUID,  # noqa: A002 - the library's name for an aggregate id
        plan: str,
        key: str,
        definition: dict[str, Any],
    ) -> Task:
        """Assign a task; ``definition`` holds the :data:`TASK_FIELDS` as plain values."""
        cls.check_definition(definition)
        return cls._create(
            cls.Assigned, id=id, plan=plan, key=key, definition=definition, **ctx.event_fields()
        )

    # Progress --------------------------------------------------------------

    def report_progress(self, ctx: Context, *, percent: int, as_of: date, note: str = "") -> None:
        """The lead unit reports overall progress; it never goes down."""
        self._require_open()
        self._require_lead(ctx)
        check_percent(percent)
        if self.status is ItemStatus.COMPLETED:
            msg = f"{self.key} is completed; correct an earlier report instead"
            raise ItemClosedError(msg)
        if percent < self.percent:
            msg = (
                f"progress of {self.key} would go down from {self.percent}% to {percent}%: "
                "correct the earlier report, with a reason"
            )
            raise ProgressDecreaseError(msg, field="percent")
        self.trigger_event(
            self.ProgressReported,
            percent=percent,
            as_of=as_of,
            note=note.strip(),
            **ctx.event_fields(),
        )

    class ProgressReported(Fact):
        TOPIC = "lienthong.task.ProgressReported"
        percent: int
        as_of: date
        note: str

        def apply(self, task: Task) -> None:
            task.percent = self.percent
            task.reports[self.originator_version] = self.percent
            task.report_days[self.originator_version] = self.as_of
            task.last_as_of = self.as_of
            task.acted_by.add(self.actor)
            task.settle_progress()

    def report_contribution(
        self, ctx: Context, *, percent: int, as_of: date, note: str = ""
    ) -> None:
        """A coordinating unit reports how far its own part has come."""
        self._require_open()
        self._require_participant(ctx)
        check_percent(percent)
        self.trigger_event(
            self.ContributionReported,
            percent=percent,
            as_of=as_of,
            note=note.strip(),
            **ctx.event_fields(),
        )

    class ContributionReported(Fact):
        TOPIC = "lienthong.task.ContributionReported"
        percent: int
        as_of: date
        note: str

        def apply(self, task: Task) -> None:
            task.acted_by.add(self.actor)
            if task.status is ItemStatus.NOT_STARTED:
                task.status = ItemStatus.IN_PROGRESS

    def correct_report(
        self, ctx: Context, *, report_version: int, percent: int, reason: str, note: str = ""
    ) -> None:
        """Correct an earlier progress report; the only way progress goes down."""
        self._require_open()
        self._require_lead(ctx)
        check_percent(percent)
        if report_version not in self.reports:
            msg = f"{self.key} has no progress report at version {report_version}"
            raise UnknownReportError(msg, field="report_version")
        self.trigger_event(
            self.ReportCorrected,
            report_version=report_version,
            percent=percent,
            reason=require_reason(reason),
            note=note.strip(),
            **ctx.event_fields(),
        )

    class ReportCorrected(Fact):
        TOPIC = "lienthong.task.ReportCorrected"
        report_version: int
        percent: int
        reason: str
        note: str

        def apply(self, task: Task) -> None:
            task.reports[self.report_version] = self.percent
            latest = max(task.reports)
            task.percent = task.reports[latest]
            if task.status in (ItemStatus.SUBMITTED, ItemStatus.COMPLETED) and task.percent < 100:  # noqa: PLR2004
                task.status = ItemStatus.IN_PROGRESS
                task.claim = ()
                task.claimed_by = ""
                task.completed_on = None
            task.settle_progress()

    def settle_progress(self) -> None:
        """The status the reported percent leaves a task in, short of a claim: 100%
        awaits evidence ("Chờ minh chứng"), anything less is in progress. A claim
        under review, a confirmed completion and "Chờ hoàn thiện" stand as they are."""
        if self.status in REPORTED:
            full = self.percent == 100  # noqa: PLR2004
            self.status = ItemStatus.AWAITING_EVIDENCE if full else ItemStatus.IN_PROGRESS

    # Deadline --------------------------------------------------------------

    def change_deadline(
        self, ctx: Context, *, coordinator: str, deadline: str, reason: str, document: str
    ) -> None:
        """The coordination office moves the deadline, citing its authority."""
        self._require_open()
        require_coordinator(ctx, coordinator)
        parsed = parse_deadline(deadline)
        if not document.strip():
            msg = "name the document that authorises the change"
            raise InvalidValueError(msg, field="document")
        self.trigger_event(
            self.DeadlineChanged,
            deadline=parsed.text,
            reason=require_reason(reason),
            document=document.strip(),
            **ctx.event_fields(),
        )

    class DeadlineChanged(Fact):
        TOPIC = "lienthong.task.DeadlineChanged"
        deadline: str
        reason: str
        document: str

        def apply(self, task: Task) -> None:
            task.apply_definition({"deadline": self.deadline})

    # Shared facts, stored under this aggregate's own topics ------------------

    EvidenceSubmitted = topical(TrackedItem.EvidenceSubmitted, "task.EvidenceSubmitted")
    EvidenceAccepted = topical(TrackedItem.EvidenceAccepted, "task.EvidenceAccepted")
    EvidenceRejected = topical(TrackedItem.EvidenceRejected, "task.EvidenceRejected")
    ReturnedForCompletion = topical(TrackedItem.ReturnedForCompletion, "task.ReturnedForCompletion")
    CompletionClaimed = topical(TrackedItem.CompletionClaimed, "task.CompletionClaimed")
    CompletionConfirmed = topical(TrackedItem.CompletionConfirmed, "task.CompletionConfirmed")
    ObstacleRaised = topical(TrackedItem.ObstacleRaised, "task.ObstacleRaised")
    ObstacleResolved = topical(TrackedItem.ObstacleResolved, "task.ObstacleResolved")
    Amended = topical(TrackedItem.Amended, "task.Amended")
    Cancelled = topical(TrackedItem.Cancelled, "task.Cancelled")
