"""Protobuf ↔ plain values. Requests are checked as a whole: every invalid field is
collected and reported together (:class:`~services.wire.violations.RequestInvalidError`);
envelopes are read into commands by :mod:`services.wire.envelopes`."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message
from lienthong.v1 import audit_service_pb2, envelope_pb2, resources_pb2

from domain.errors import DomainError
from domain.ids import Ref, SubjectKind, parse_ref
from domain.items import ItemStatus
from domain.messages import vietnamese_first
from domain.text import quote
from projections.engine.rows import json_safe
from services.app.submissions import Verdict
from services.wire.text import MAX_EVIDENCE, text_violations
from services.wire.violations import RequestInvalidError, Violation

SHA256 = re.compile(r"^[0-9a-f]{64}$")
OUTCOMES = {
    "accepted": envelope_pb2.OUTCOME_ACCEPTED,
    "duplicate": envelope_pb2.OUTCOME_DUPLICATE,
    "rejected": envelope_pb2.OUTCOME_REJECTED,
    "": envelope_pb2.OUTCOME_UNSPECIFIED,
}
QUALITIES = {
    envelope_pb2.EVIDENCE_QUALITY_GOOD: "good",
    envelope_pb2.EVIDENCE_QUALITY_ADEQUATE: "adequate",
    envelope_pb2.EVIDENCE_QUALITY_LOW: "low",
}
OBSTACLES = {
    envelope_pb2.OBSTACLE_KIND_DIFFICULTY: "difficulty",
    envelope_pb2.OBSTACLE_KIND_BLOCKER: "blocker",
}
STATUSES = {s: resources_pb2.ItemStatus.Value(f"ITEM_STATUS_{s.name}") for s in ItemStatus}
DATE_FIELD = "as_of"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # YYYY-MM-DD only: no week or ordinal dates
# The days a request may name: every view can compute a status for them (a schedule's
# arithmetic stays within the calendar); a report's as_of has its own, narrower, rule.
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2199, 12, 31)


class Checker:
    """Collects the violations of one request."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def add(self, field: str, description: str, reason: str = "INVALID_VALUE") -> None:
        self.violations.append(Violation(field, description, reason))

    def position(self, field: str, value: int) -> int:
        """A log position to start from: 0 or more."""
        if value < 0:
            self.add(field, f"{value} is not a log position (0 or more)", "POSITION_OUT_OF_RANGE")
        return value

    def required(self, field: str, value: str) -> str:
        if not value.strip():
            self.add(field, "is required", "FIELD_REQUIRED")
        return value.strip()

    def one_of(self, **given: str) -> str:
        """The one field of ``given`` (name → value) that is set; each is refused
        ``ONE_OF_REQUIRED`` when not exactly one is ("" then)."""
        named = [name for name, value in given.items() if value]
        if len(named) != 1:
            names = " and ".join(", ".join(given).rsplit(", ", 1))
            for name in given:
                self.add(name, f"give exactly one of {names}", "ONE_OF_REQUIRED")
            return ""
        return named[0]

    def plan(self, field: str, value: str) -> str:
        """A plan id (required): a subject of the kind plan."""
        if self.required(field, value):
            ref = self.reference(field, value)
            if ref is not None and ref.kind is not SubjectKind.PLAN:
                self.add(field, f"{quote(value)} is not a plan", "NOT_A_PLAN")
        return value

    def uuid(self, field: str, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            self.add(field, f"{quote(value)} is not a UUID")
            return value

    def subject(self, field: str, value: str) -> str:
        self.reference(field, value)
        return value

    def reference(self, field: str, value: str) -> Ref | None:
        """The parsed subject ``value`` (None when it is not one)."""
        try:
            return parse_ref(value)
        except DomainError as error:
            self.add(field, error.message, error.code)
            return None

    def date(self, field: str, value: str, *, required: bool = True) -> dt.date | None:
        if not value:
            if required:
                self.add(field, "is required (YYYY-MM-DD)", "FIELD_REQUIRED")
            return None
        try:
            day = dt.date.fromisoformat(value) if ISO_DATE.match(value) else None
        except ValueError:
            day = None
        if day is None:
            self.add(field, f"{quote(value)} is not a date YYYY-MM-DD", "DATE_INVALID")
        elif not FIRST_DAY <= day <= LAST_DAY:
            self.add(field, f"{day} is not between {FIRST_DAY} and {LAST_DAY}", "DATE_OUT_OF_RANGE")
            return None
        return day

    def year(self, field: str, value: str) -> None:
        """A year a request may name (of the days :meth:`date` takes)."""
        digits = value.isascii() and value.isdigit()
        if not (digits and FIRST_DAY.year <= int(value) <= LAST_DAY.year):
            message = f"{quote(value)} is not a year from {FIRST_DAY.year} to {LAST_DAY.year}"
            self.add(field, message, "YEAR_OUT_OF_RANGE")

    def texts(self, message: Message, prefix: str = "", skip: frozenset[str] = frozenset()) -> None:
        """Every text and timestamp field of ``message`` (see :mod:`services.wire.text`)."""
        self.violations.extend(text_violations(message, prefix, skip))

    def done(self) -> None:
        if self.violations:
            raise RequestInvalidError(self.violations)


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(dt.UTC))
    return stamp


def from_timestamp(stamp: timestamp_pb2.Timestamp) -> dt.datetime:
    return stamp.ToDatetime(tzinfo=dt.UTC)


def payload_args(check: Checker, kind: str, payload: Any) -> dict[str, Any]:
    """The plain arguments of an envelope payload, checked field by field."""
    args: dict[str, Any] = json_format.MessageToDict(
        payload, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if DATE_FIELD in args:
        args[DATE_FIELD] = check.date(f"envelope.{kind}.{DATE_FIELD}", args[DATE_FIELD])
    for name in ("report_version", "measurement_version"):
        if name in args:
            args[name] = int(args[name])
    for old, new in (("upstream_task", "upstream"), ("downstream_task", "downstream")):
        if old in args:
            args[new] = args.pop(old)
    _enums(check, kind, payload, args)
    percent = args.get("percent", 0)
    if not 0 <= percent <= 100:  # noqa: PLR2004
        check.add(
            f"envelope.{kind}.percent",
            f"must be within 0–100, not {percent}",
            "PERCENT_OUT_OF_RANGE",
        )
    return {k: v for k, v in args.items() if v not in ("", None) or k == "note"}


def _enums(check: Checker, kind: str, payload: Any, args: dict[str, Any]) -> None:
    """Enum fields as the domain's words; an unset obstacle kind is an error."""
    if "quality" in args:
        args["quality"] = QUALITIES.get(payload.quality, "")
    if "kind" in args:
        args["kind"] = OBSTACLES.get(payload.kind, "")
        if not args["kind"]:
            check.add(f"envelope.{kind}.kind", "must be DIFFICULTY or BLOCKER")


def evidence_of(
    check: Checker, references: Sequence[envelope_pb2.EvidenceReference]
) -> list[dict[str, str]]:
    if len(references) > MAX_EVIDENCE:
        check.add(
            "envelope.evidence",
            f"holds {len(references)} references; at most {MAX_EVIDENCE}",
            "TOO_MANY_EVIDENCE",
        )
        return []
    evidence = []
    for index, reference in enumerate(references):
        where = f"envelope.evidence[{index}]"
        if not SHA256.match(reference.sha256):
            check.add(f"{where}.sha256", "must be 64 lowercase hex digits")
        if not reference.uri:
            check.add(f"{where}.uri", "is required", "FIELD_REQUIRED")
        evidence.append(
            {
                "sha256": reference.sha256,
                "uri": reference.uri,
                "media_type": reference.media_type,
                "description": reference.description,
            }
        )
    return evidence


def verdict_message(verdict: Verdict) -> envelope_pb2.Verdict:
    """The verdict on the wire; a refusal's message Vietnamese first (its code's
    sentence, then the detail its receipt keeps)."""
    message = verdict.message
    if verdict.reason_code:
        message = vietnamese_first(verdict.reason_code, message)
    return envelope_pb2.Verdict(
        event_id=verdict.event_id,
        outcome=OUTCOMES[verdict.outcome],
        position=verdict.position,
        reason_code=verdict.reason_code,
        message=message,
        first_outcome=OUTCOMES[verdict.first_outcome],
        subject_version=verdict.subject_version,
    )


# Resources -----------------------------------------------------------------------


def budget_message(budget: dict[str, Any] | None) -> resources_pb2.Budget | None:
    if not budget:
        return None
    return resources_pb2.Budget(
        unit=budget.get("unit", ""),
        total=str(budget["total"]),
        items=[
            resources_pb2.BudgetItem(
                number=str(item.get("number", "")),
                text=item.get("text", ""),
                amount=str(item["amount"]),
                tasks=item.get("tasks", []),
            )
            for item in budget["items"]
        ],
    )


def plan_message(
    summary: dict[str, Any], header: dict[str, Any], budget: dict[str, Any] | None = None
) -> resources_pb2.Plan:
    return resources_pb2.Plan(
        plan_id=summary["plan_id"],
        ward=header["ward"],
        ward_id=header["ward_id"],
        province=header.get("province", ""),
        number=header.get("number", ""),
        title=header.get("title", ""),
        year=header["year"],
        issuer=header.get("issuer", ""),
        coordinator=header["coordinator"],
        indicator_count=summary["indicators"],
        task_count=summary["tasks"],
        task_sub_item_count=summary["task_sub_items"],
        duty_count=summary["duties"],
        bases=header.get("bases", []),
        issued_on=header.get("issued_on") or "",
        reporting=header.get("reporting", []),
        budget=budget_message(budget),
        end_year=header.get("end_year") or 0,
        default_lead=header.get("default_lead", []),
        default_monitor=header.get("default_monitor", []),
    )


def status_from_message(value: int) -> ItemStatus | None:
    """The domain status of a ``ItemStatus`` enum value (None for UNSPECIFIED)."""
    for status, number in STATUSES.items():
        if number == value:
            return status
    return None


def plan_status_message(status: dict[str, Any]) -> resources_pb2.PlanStatus:
    return resources_pb2.PlanStatus(
        plan_id=status["plan_id"],
        ward=status["ward"],
        number=status["number"],
        as_of=status["as_of"],
        item_count=status["items"],
        by_status=[
            resources_pb2.StatusCount(status=STATUSES[ItemStatus(name)], count=count)
            for name, count in status["by_status"].items()
        ],
        awaiting_completion=status["awaiting_completion"],
        overdue=[
            resources_pb2.OverdueItem(
                name=o["item"], lead=o["lead"], deadline=o["deadline"], percent=o["percent"]
            )
            for o in status["overdue"]
        ],
        open_obstacles=status["open_obstacles"],
        dependencies=[
            resources_pb2.Dependency(upstream_task=up, downstream_task=down)
            for up, down in status["dependencies"]
        ],
        position=status.get("position", 0),
    )


def audit_message(record: dict[str, Any]) -> resources_pb2.AuditEvent:
    body = struct_pb2.Struct()
    body.update(json_safe(record["body"]))
    return resources_pb2.AuditEvent(
        position=record["position"],
        subject=record["subject"],
        topic=record["topic"],
        version=record["version"],
        actor=record["actor"] or "",
        person=record["person"] or "",
        occurred_at=timestamp(record["occurred_at"]),
        recorded_at=timestamp(record["recorded_at"]),
        channel=record["channel"] or "",
        message_id=record["message_id"] or "",
        body=body,
        late=record["late"],
        delay_seconds=record["delay_seconds"],
    )


def correction_message(correction: dict[str, Any]) -> audit_service_pb2.Correction:
    """A correction (:mod:`projections.corrections`) with its times as datetimes."""
    return audit_service_pb2.Correction(
        position=correction["position"],
        subject=correction["subject"],
        topic=correction["topic"],
        actor=correction["actor"] or "",
        person=correction["person"] or "",
        recorded_at=timestamp(correction["recorded_at"]),
        occurred_at=timestamp(correction["occurred_at"]),
        reason=correction["reason"],
        document=correction["document"],
        note=correction["note"],
        corrects_version=correction["corrects_version"],
        as_of=correction["as_of"],
        period=correction["period"],
        changes=[
            audit_service_pb2.CorrectedValue(field=field, before=before, after=after)
            for field, before, after in correction["changes"]
        ],
    )
