"""Reading the log as an auditor does: every recorded event with its position,
subject, actor, times, source and body, filtered by subject, plan, agency or time.

A record is what the audit trail view stores per position and what the relay
publishes, with how long after the moment it is about it was recorded and whether
that is late (:func:`domain.timing.lateness`); :meth:`AuditLog.scan` reads the log
itself (bounded per call), for the streams that follow it past the view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast
from uuid import UUID

from domain.agency import Agency
from domain.errors import InvalidValueError
from domain.facts import Fact
from domain.ids import SubjectKind, parse_ref
from domain.indicator import Indicator
from domain.keys import SigningKey
from domain.plan import Plan
from domain.submission import Submission
from domain.task import Task
from domain.timing import lateness
from projections.engine.source import EventSource

PROVENANCE = {
    "originator_id",
    "originator_version",
    "originator_topic",
    "timestamp",
    "actor",
    "person",
    "occurred_at",
    "channel",
    "message_id",
}
SCAN_LIMIT = 5000
# The corrections: records that change a number or a definition already on record
# (what each replaced: projections.corrections).
REPORT_CORRECTED = "lienthong.task.ReportCorrected"
MEASUREMENT_CORRECTED = "lienthong.indicator.MeasurementCorrected"
DEADLINE_CHANGED = "lienthong.task.DeadlineChanged"
ITEM_AMENDED = ("lienthong.task.Amended", "lienthong.indicator.Amended")
PLAN_AMENDED = "lienthong.plan.Amended"
CORRECTION_TOPICS = (
    REPORT_CORRECTED,
    MEASUREMENT_CORRECTED,
    DEADLINE_CHANGED,
    *ITEM_AMENDED,
    PLAN_AMENDED,
)

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


@dataclass(frozen=True)
class Page:
    records: list[Record]
    next_position: int  # where the next scan starts
    at_end: bool  # the scan reached the end of the log as it stood


class AuditLog:
    """The log of one application, read with subjects resolved (and cached)."""

    def __init__(self, app: EventSource) -> None:
        self.app = app
        self._subjects: dict[UUID, str] = {}

    def subject(self, originator_id: UUID) -> str:
        """``PLAN``, ``PLAN/task/KEY``, ``PLAN/indicator/N``, ``agency/ID`` or ``submission/ID``."""
        if originator_id not in self._subjects:
            aggregate: Any = self.app.repository.get(originator_id)
            self._subjects[originator_id] = subject_name(aggregate)
        return self._subjects[originator_id]

    def record(self, position: int, event: Fact) -> Record:
        if event.originator_version == 1 and event.originator_id not in self._subjects:
            # an aggregate's first event names its subject: no need to read the store
            self._subjects[event.originator_id] = created_subject(event)
        body = {k: v for k, v in vars(event).items() if k not in PROVENANCE}
        as_of = body.get("as_of")
        delay, late = lateness(
            event.occurred_at, event.recorded_at, as_of if isinstance(as_of, date) else None
        )
        return {
            "position": position,
            "subject": self.subject(event.originator_id),
            **event.provenance(),
            "body": body,
            "delay_seconds": delay,
            "late": late,
        }

    def last_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def scan(
        self, start: int, predicate: Predicate, page_size: int, scan_limit: int = SCAN_LIMIT
    ) -> Page:
        """Matching records from ``start`` on: at most ``page_size``, scanning at most
        ``scan_limit`` positions (a page may hold fewer records and still have more)."""
        records: list[Record] = []
        position = max(start, 1)
        end = position + scan_limit
        while position < end and len(records) < page_size:
            batch = self.app.recorder.select_notifications(position, min(500, end - position))
            if not batch:
                return Page(records, position, at_end=True)
            for notification in batch:
                position = notification.id + 1
                event = cast("Fact", self.app.mapper.to_domain_event(notification))
                record = self.record(notification.id, event)
                if predicate(record):
                    records.append(record)
                    if len(records) == page_size:
                        break
        return Page(records, position, at_end=position > self.last_position())


def created_subject(event: Any) -> str:
    """The subject an aggregate's first event names (as :func:`subject_name` of the
    aggregate it creates), read from the event's fields."""
    if isinstance(event, Submission.Created):
        return f"submission/{event.event_id}"  # type: ignore[attr-defined]
    if isinstance(event, Task.Created):
        return f"{event.plan}/task/{event.key}"  # type: ignore[attr-defined]
    if isinstance(event, Indicator.Created):
        return f"{event.plan}/indicator/{event.key}"  # type: ignore[attr-defined]
    if isinstance(event, Plan.Created):
        return str(event.key)  # type: ignore[attr-defined]
    if isinstance(event, Agency.Created):
        return f"agency/{event.key}"  # type: ignore[attr-defined]
    return subject_name(event.mutate(None))


def subject_name(aggregate: Any) -> str:  # noqa: PLR0911 - one case per aggregate
    if isinstance(aggregate, Task):
        return f"{aggregate.plan}/task/{aggregate.key}"
    if isinstance(aggregate, Indicator):
        return f"{aggregate.plan}/indicator/{aggregate.key}"
    if isinstance(aggregate, Plan):
        return aggregate.key
    if isinstance(aggregate, Agency):
        return f"agency/{aggregate.key}"
    if isinstance(aggregate, Submission):
        return f"submission/{aggregate.event_id}"
    if isinstance(aggregate, SigningKey):
        return f"key/{aggregate.agency}/{aggregate.key_id}"
    return str(aggregate.id)


def about_subject(subject: str) -> Predicate:
    wanted = str(parse_ref(subject))
    return lambda record: record["subject"] == wanted


def about_plan(plan: str) -> Predicate:
    if parse_ref(plan).kind is not SubjectKind.PLAN:
        raise InvalidValueError(f"{plan} is not a plan", field="plan_id")
    return lambda record: record["subject"] == plan or record["subject"].startswith(f"{plan}/")


def by_agency(agency: str) -> Predicate:
    return lambda record: record["actor"] == agency
