"""Builders of ``lienthong.v1.AgencyEventEnvelope`` messages, one per kind of fact.

Every builder takes the subject first, the payload's fields as keywords and the
envelope's header as keywords (:class:`Header`): ``agency_id`` (required),
``person``, ``occurred_at`` (a timezone-aware datetime; now when omitted) and
``event_id`` (a UUID; a new UUID4 when omitted). Nothing is sent: a builder only
returns the message, ready for :meth:`lienthong_sdk.client.AgencyClient.publish`.

>>> envelope = progress_reported(
...     "phuoc-binh-2026/task/24", percent=35, as_of=date(2026, 3, 31),
...     agency_id="phuoc-binh.health-post",
... )
>>> envelope.WhichOneof("payload")
'progress_reported'
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, Required, TypedDict, TypeVar, Unpack

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from lienthong.v1 import envelope_pb2

from lienthong_sdk.evidence import Evidence, as_tuple

Envelope = envelope_pb2.AgencyEventEnvelope
ObstacleKind = Literal["difficulty", "blocker"]
Quality = Literal["good", "adequate", "low"]
Value = str | int | float | Decimal
V = TypeVar("V")

OBSTACLE_KINDS: dict[str, envelope_pb2.ObstacleKind.ValueType] = {
    "difficulty": envelope_pb2.OBSTACLE_KIND_DIFFICULTY,
    "blocker": envelope_pb2.OBSTACLE_KIND_BLOCKER,
}
QUALITIES: dict[str, envelope_pb2.EvidenceQuality.ValueType] = {
    "good": envelope_pb2.EVIDENCE_QUALITY_GOOD,
    "adequate": envelope_pb2.EVIDENCE_QUALITY_ADEQUATE,
    "low": envelope_pb2.EVIDENCE_QUALITY_LOW,
}

__all__ = [
    "Envelope",
    "Evidence",
    "Header",
    "ObstacleKind",
    "Quality",
    "completion_claimed",
    "completion_confirmed",
    "contribution_reported",
    "deadline_changed",
    "dependency_declared",
    "dependency_withdrawn",
    "evidence_accepted",
    "evidence_rejected",
    "evidence_submitted",
    "indicator_measured",
    "measurement_corrected",
    "obstacle_raised",
    "obstacle_resolved",
    "progress_reported",
    "report_corrected",
]


class Header(TypedDict, total=False):
    """Who publishes an envelope, when, and under which idempotency key."""

    agency_id: Required[str]
    person: str | None
    occurred_at: datetime | None
    event_id: str | None


# Plain values → wire values ----------------------------------------------------------


def day(value: date) -> str:
    """A day as ``YYYY-MM-DD``; a datetime is refused (which day would it be?)."""
    if isinstance(value, datetime):
        msg = f"expected a datetime.date, not the datetime {value.isoformat()}"
        raise TypeError(msg)
    return value.isoformat()


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A timezone-aware datetime as a ``Timestamp``; a naive one is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{value.isoformat()} has no timezone: pass an aware datetime (e.g. tz=UTC)"
        raise ValueError(msg)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def new_event_id() -> str:
    """A fresh idempotency key (UUID4)."""
    return str(uuid.uuid4())


def _checked_event_id(event_id: str | None) -> str:
    if event_id is None:
        return new_event_id()
    uuid.UUID(event_id)  # raises ValueError when it is not a UUID
    return event_id


def _choice(table: dict[str, V], value: str, what: str) -> V:
    if value not in table:
        msg = f"{what} must be one of {', '.join(table)}, not {value!r}"
        raise ValueError(msg)
    return table[value]


def quality_value(value: Quality | None) -> envelope_pb2.EvidenceQuality.ValueType:
    """The wire value of an evidence quality; None leaves the choice to the server."""
    if value is None:
        return envelope_pb2.EVIDENCE_QUALITY_UNSPECIFIED
    return _choice(QUALITIES, value, "quality")


def _envelope(
    kind: str,
    payload: Message,
    subject: str,
    header: Header,
    evidence: Evidence | Iterable[Evidence] = (),
) -> Envelope:
    occurred_at = header.get("occurred_at") or datetime.now(UTC)
    envelope = Envelope(
        event_id=_checked_event_id(header.get("event_id")),
        agency_id=header["agency_id"],
        person=header.get("person") or "",
        subject=subject,
        occurred_at=timestamp(occurred_at),
        evidence=[item.to_proto() for item in as_tuple(evidence)],
    )
    field = getattr(envelope, kind)
    field.CopyFrom(payload)
    field.SetInParent()
    return envelope


# Agency reports -----------------------------------------------------------------------


def progress_reported(
    subject: str,
    *,
    percent: int,
    as_of: date,
    note: str = "",
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """The lead unit reports a task's overall progress (0-100) on the day ``as_of``."""
    payload = envelope_pb2.ProgressReported(percent=percent, as_of=day(as_of), note=note)
    return _envelope("progress_reported", payload, subject, header, evidence)


def contribution_reported(
    subject: str,
    *,
    percent: int,
    as_of: date,
    note: str = "",
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """A coordinating unit reports how far its own part of a task has come."""
    payload = envelope_pb2.ContributionReported(percent=percent, as_of=day(as_of), note=note)
    return _envelope("contribution_reported", payload, subject, header, evidence)


def report_corrected(
    subject: str,
    *,
    report_version: int,
    percent: int,
    reason: str,
    note: str = "",
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """Corrects the progress report that made ``report_version`` of the task's stream
    (the ``subject_version`` of that report's verdict)."""
    payload = envelope_pb2.ReportCorrected(
        report_version=report_version, percent=percent, reason=reason, note=note
    )
    return _envelope("report_corrected", payload, subject, header, evidence)


def indicator_measured(
    subject: str,
    *,
    value: Value,
    unit: str,
    period: str,
    as_of: date,
    note: str = "",
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """A measurement of an indicator: ``value`` a number or a level ("Khá"), ``period``
    "2026", "2026-Q1", "2026-H1" or "2026-03"."""
    payload = envelope_pb2.IndicatorMeasured(
        value=str(value), unit=unit, period=period, as_of=day(as_of), note=note
    )
    return _envelope("indicator_measured", payload, subject, header, evidence)


def measurement_corrected(
    subject: str,
    *,
    measurement_version: int,
    value: Value,
    unit: str,
    reason: str,
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """Corrects the measurement that made ``measurement_version`` of the indicator's stream."""
    payload = envelope_pb2.MeasurementCorrected(
        measurement_version=measurement_version, value=str(value), unit=unit, reason=reason
    )
    return _envelope("measurement_corrected", payload, subject, header, evidence)


def evidence_submitted(
    subject: str,
    *,
    evidence: Evidence | Iterable[Evidence],
    **header: Unpack[Header],
) -> Envelope:
    """Submits evidence for an item, nothing else; at least one piece is needed."""
    references = as_tuple(evidence)
    if not references:
        raise ValueError("evidence_submitted needs at least one piece of evidence")
    payload = envelope_pb2.EvidenceSubmitted()
    return _envelope("evidence_submitted", payload, subject, header, references)


def completion_claimed(
    subject: str,
    *,
    evidence: Evidence | Iterable[Evidence],
    note: str = "",
    **header: Unpack[Header],
) -> Envelope:
    """The lead unit claims an item complete, citing ``evidence``."""
    payload = envelope_pb2.CompletionClaimed(note=note)
    return _envelope("completion_claimed", payload, subject, header, evidence)


def obstacle_raised(
    subject: str,
    *,
    obstacle_id: str,
    kind: ObstacleKind,
    description: str,
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """A participant raises a difficulty (khó khăn) or a blocker (vướng mắc) on an item."""
    payload = envelope_pb2.ObstacleRaised(
        obstacle_id=obstacle_id,
        kind=_choice(OBSTACLE_KINDS, kind, "kind"),
        description=description,
    )
    return _envelope("obstacle_raised", payload, subject, header, evidence)


def obstacle_resolved(
    subject: str,
    *,
    obstacle_id: str,
    resolution: str,
    evidence: Evidence | Iterable[Evidence] = (),
    **header: Unpack[Header],
) -> Envelope:
    """Whoever raised an obstacle, or the coordination office, resolves it."""
    payload = envelope_pb2.ObstacleResolved(obstacle_id=obstacle_id, resolution=resolution)
    return _envelope("obstacle_resolved", payload, subject, header, evidence)


# Reviews by the monitoring unit or the coordination office ---------------------------


def evidence_accepted(
    subject: str,
    *,
    sha256: str,
    quality: Quality | None = None,
    reason: str = "",
    **header: Unpack[Header],
) -> Envelope:
    """Accepts the evidence ``sha256`` of an item (the server assumes "good" quality
    when ``quality`` is omitted)."""
    payload = envelope_pb2.EvidenceAccepted(
        sha256=sha256, quality=quality_value(quality), reason=reason
    )
    return _envelope("evidence_accepted", payload, subject, header)


def evidence_rejected(
    subject: str,
    *,
    sha256: str,
    reason: str,
    quality: Quality | None = None,
    **header: Unpack[Header],
) -> Envelope:
    """Rejects the evidence ``sha256``: the item goes back to "Chờ hoàn thiện" (the
    server assumes "low" quality when ``quality`` is omitted)."""
    payload = envelope_pb2.EvidenceRejected(
        sha256=sha256, quality=quality_value(quality), reason=reason
    )
    return _envelope("evidence_rejected", payload, subject, header)


def completion_confirmed(
    subject: str,
    *,
    note: str = "",
    **header: Unpack[Header],
) -> Envelope:
    """Confirms an item's completion claim."""
    payload = envelope_pb2.CompletionConfirmed(note=note)
    return _envelope("completion_confirmed", payload, subject, header)


def deadline_changed(
    subject: str,
    *,
    deadline: str,
    reason: str,
    document: str,
    **header: Unpack[Header],
) -> Envelope:
    """Moves a task's deadline, worded as the plans word it ("Quý II/2026"), on the
    authority of ``document``."""
    payload = envelope_pb2.DeadlineChanged(deadline=deadline, reason=reason, document=document)
    return _envelope("deadline_changed", payload, subject, header)


def dependency_declared(
    plan_id: str,
    *,
    upstream_task: str,
    downstream_task: str,
    reason: str,
    **header: Unpack[Header],
) -> Envelope:
    """Declares that task ``downstream_task`` waits on ``upstream_task`` (task keys of
    the plan, e.g. "24"); the subject is the plan."""
    payload = envelope_pb2.DependencyDeclared(
        upstream_task=upstream_task, downstream_task=downstream_task, reason=reason
    )
    return _envelope("dependency_declared", payload, plan_id, header)


def dependency_withdrawn(
    plan_id: str,
    *,
    upstream_task: str,
    downstream_task: str,
    reason: str,
    **header: Unpack[Header],
) -> Envelope:
    """Withdraws a declared dependency between two tasks of the plan."""
    payload = envelope_pb2.DependencyWithdrawn(
        upstream_task=upstream_task, downstream_task=downstream_task, reason=reason
    )
    return _envelope("dependency_withdrawn", payload, plan_id, header)
