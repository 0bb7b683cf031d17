"""Given-events / when-command / then-events-or-error helpers for the pure domain.

No clock and no randomness: every :class:`~domain.context.Context` has fixed,
tz-aware datetimes derived from its ``day`` and a message id derived from its
arguments, and every aggregate id is the deterministic id of its reference.

A test reads::

    task = given_task(lead=[LEAD])                          # history, already collected
    given(task, lambda t: t.report_progress(ctx(LEAD), percent=40, as_of=DAY))
    assert when(task, lambda t: t.report_progress(ctx(LEAD), percent=60, as_of=DAY)) == [
        "ProgressReported"
    ]
    then_refused(task, lambda t: t.report_progress(ctx(LEAD), percent=10, as_of=DAY),
                 ProgressDecreaseError, "PROGRESS_DECREASE_NEEDS_CORRECTION")
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate

from domain import errors, keys
from domain.agency import Agency
from domain.context import Context
from domain.facts import Fact
from domain.ids import agency_id, indicator_id, plan_id, task_id
from domain.indicator import Indicator
from domain.plan import Plan
from domain.task import Task

A = TypeVar("A", bound=Aggregate)

ICT = dt.timezone(dt.timedelta(hours=7))
DAY = dt.date(2026, 2, 1)
PLAN = "phuoc-binh-2026"

# Agencies of the examples.
OFFICE = "phuoc-binh.vhxh"  # the coordination office (cơ quan thường trực)
STEERING = "phuoc-binh.steering-committee"  # Ban Chỉ đạo: judges the office's own items
LEAD = "phuoc-binh.health-post"  # chủ trì
SECOND_LEAD = "phuoc-binh.hdnd-ubnd-office"  # a second chủ trì
HELPER = "phuoc-binh.police"  # phối hợp
MONITOR = "phuoc-binh.services-centre"  # theo dõi, đánh giá (indicators)
STRANGER = "phuoc-binh.primary-school"  # takes no part
ALL_UNITS = "phuoc-binh.all-units"  # a collective lead: "Các cơ quan, đơn vị"
MEMBER = "phuoc-binh.kindergarten"  # a member of ALL_UNITS

# The stable codes as published: a renamed code fails every test that refuses with it.
STABLE_CODES: dict[type[errors.DomainError], str] = {
    errors.DomainError: "DOMAIN_ERROR",
    errors.InvalidValueError: "INVALID_VALUE",
    errors.UnrecognisedDeadlineError: "DEADLINE_UNRECOGNISED",
    errors.UnrecognisedTargetError: "TARGET_UNRECOGNISED",
    errors.DuplicateTargetError: "TARGET_DUPLICATE",
    errors.UnrecognisedUnitError: "UNIT_UNRECOGNISED",
    errors.PercentOutOfRangeError: "PERCENT_OUT_OF_RANGE",
    errors.UnitMismatchError: "UNIT_MISMATCH",
    errors.MissingReasonError: "REASON_REQUIRED",
    errors.NotLeadUnitError: "NOT_LEAD_UNIT",
    errors.NotParticipantError: "NOT_PARTICIPANT",
    errors.NotReviewerError: "NOT_REVIEWER",
    errors.NotCoordinatorError: "NOT_COORDINATOR",
    errors.SelfReviewError: "SELF_REVIEW",
    errors.CollectiveCannotActError: "COLLECTIVE_CANNOT_ACT",
    errors.ProgressDecreaseError: "PROGRESS_DECREASE_NEEDS_CORRECTION",
    errors.EvidenceRequiredError: "EVIDENCE_REQUIRED",
    errors.UnknownEvidenceError: "EVIDENCE_UNKNOWN",
    errors.EvidenceAlreadyJudgedError: "EVIDENCE_ALREADY_JUDGED",
    errors.DuplicateEvidenceError: "EVIDENCE_DUPLICATE",
    errors.NoPendingClaimError: "NO_PENDING_COMPLETION_CLAIM",
    errors.KpiTargetNotMetError: "KPI_TARGET_NOT_MET",
    errors.ItemClosedError: "ITEM_CLOSED",
    errors.GroupItemError: "GROUP_ITEM_NOT_REPORTABLE",
    errors.NotMeasuredError: "INDICATOR_NOT_MEASURED",
    errors.UnknownReportError: "REPORT_UNKNOWN",
    errors.UnknownObstacleError: "OBSTACLE_UNKNOWN",
    errors.DependencyCycleError: "DEPENDENCY_CYCLE",
    errors.UnknownDependencyError: "DEPENDENCY_UNKNOWN",
    errors.DuplicateDependencyError: "DEPENDENCY_DUPLICATE",
    errors.NotFoundError: "NOT_FOUND",
    errors.UnrecognisedMeasurementError: "MEASUREMENT_UNRECOGNISED",
    errors.IdempotencyKeyReusedError: "IDEMPOTENCY_KEY_REUSED",
    errors.EvidenceUriError: "EVIDENCE_URI",
    errors.OccurredInFutureError: "OCCURRED_AT_IN_FUTURE",
    errors.OccurredBeforePlanError: "OCCURRED_AT_BEFORE_PLAN",
    errors.AsOfOutOfRangeError: "AS_OF_OUT_OF_RANGE",
    errors.PeriodOutOfRangeError: "PERIOD_OUT_OF_RANGE",
}
# The codes of identity (domain/keys.py): published like those of domain/errors.py.
KEY_CODES: dict[type[errors.DomainError], str] = {
    keys.SignatureMissingError: "SIGNATURE_MISSING",
    keys.SignatureInvalidError: "SIGNATURE_INVALID",
    keys.KeyUnknownError: "KEY_UNKNOWN",
    keys.KeyRevokedError: "KEY_REVOKED",
    keys.KeyNotOfAgencyError: "KEY_NOT_OF_AGENCY",
    keys.CertificateExpiredError: "CERTIFICATE_EXPIRED",
    keys.CertificateUntrustedError: "CERTIFICATE_UNTRUSTED",
    keys.KeyAlreadyRegisteredError: "KEY_ALREADY_REGISTERED",
    keys.AgencyNotCallerError: "AGENCY_NOT_CALLER",
    keys.RoleNotAllowedError: "ROLE_NOT_ALLOWED",
}


# Context ------------------------------------------------------------------------


def ctx(
    agency: str,
    *,
    acting_as: Iterable[str] = (),
    day: str = "2026-02-01",
    person: str | None = "Nguyễn Văn A",
    channel: str = "test",
) -> Context:
    """The provenance of one command: it occurred at 09:00 ICT on ``day`` and was
    recorded five minutes later; the message id is derived from the arguments."""
    occurred_at = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(9), ICT)
    members = frozenset(acting_as)
    message_id = f"{channel}:{day}:{agency}" + "".join(f"+{m}" for m in sorted(members))
    return Context(
        agency=agency,
        occurred_at=occurred_at,
        recorded_at=occurred_at + dt.timedelta(minutes=5),
        channel=channel,
        message_id=message_id,
        person=person,
        acting_as=members,
    )


def sha(content: str) -> str:
    """The sha256 of an evidence document with ``content``."""
    return hashlib.sha256(content.encode()).hexdigest()


# Given: aggregates with their history already collected -----------------------


def given_task(*, key: str = "II.6", **definition: Any) -> Task:
    """A task assigned by the coordination office, its events already collected.

    Unless stated, it is led by :data:`LEAD`, helped by :data:`HELPER` and due
    "Quý I/2026".
    """
    definition.setdefault("text", "Liên thông hồ sơ sức khỏe điện tử với VNeID")
    definition.setdefault("lead", [LEAD])
    definition.setdefault("coordinating", [HELPER])
    definition.setdefault("deadline", "Quý I/2026")
    task = Task.assign(
        ctx(OFFICE), id=task_id(PLAN, key), plan=PLAN, key=key, definition=definition
    )
    task.collect_events()
    return task


def given_indicator(*, key: str = "3.1", **definition: Any) -> Indicator:
    """An indicator defined by the coordination office, its events already collected.

    Unless stated: unit "%", target "≥ 80%" for 2026, led by :data:`LEAD` and
    monitored by :data:`MONITOR`.
    """
    definition.setdefault("name", "Tỷ lệ người dân có tài khoản định danh điện tử (VNeID)")
    definition.setdefault("unit", "%")
    definition.setdefault("targets", [{"period": "2026", "value": "≥ 80%"}])
    definition.setdefault("lead", [LEAD])
    definition.setdefault("monitor", [MONITOR])
    indicator = Indicator.define(
        ctx(OFFICE), id=indicator_id(PLAN, key), plan=PLAN, key=key, definition=definition
    )
    indicator.collect_events()
    return indicator


def given_measured_indicator(*, value: str = "85", **definition: Any) -> Indicator:
    """:func:`given_indicator` with a 2026 measurement by its first lead that meets the
    default target (≥ 80%): an indicator that may be claimed complete."""
    indicator = given_indicator(**definition)
    indicator.record_measurement(
        ctx(indicator.lead[0]), value=value, unit="%", period="2026", as_of=DAY
    )
    indicator.collect_events()
    return indicator


def plan_header(**header: Any) -> dict[str, Any]:
    """A valid plan header coordinated by :data:`OFFICE`, with ``header`` over it."""
    return {
        "ward": "Phước Bình",
        "number": "09/KH-UBND",
        "year": 2026,
        "title": "Kế hoạch thực hiện Nghị quyết 57-NQ/TW năm 2026",
        "coordinator": OFFICE,
        "reporting": ["monthly", "quarterly"],
        **header,
    }


def given_plan(tasks: Iterable[str] = ("a", "b", "c"), **header: Any) -> Plan:
    """A plan issued with ``tasks``, its events already collected."""
    plan = Plan.issue(
        ctx(OFFICE),
        id=plan_id(PLAN),
        key=PLAN,
        header=plan_header(**header),
        tasks=list(tasks),
        indicators=["1"],
    )
    plan.collect_events()
    return plan


def agency_profile(**profile: Any) -> dict[str, Any]:
    """A valid department profile, with ``profile`` over it."""
    return {
        "ward": "phuoc-binh",
        "name_vi": "Phòng Văn hóa – Xã hội phường Phước Bình",
        "name_en": "Culture–Society Department, Phước Bình ward",
        "kind": "department",
        **profile,
    }


def given_agency(key: str = OFFICE, **profile: Any) -> Agency:
    """An agency registered with ``profile``, its events already collected."""
    agency = Agency.register(
        ctx(OFFICE), id=agency_id(key), key=key, profile=agency_profile(**profile)
    )
    agency.collect_events()
    return agency


def given(aggregate: A, *commands: Callable[[A], object]) -> A:
    """Run ``commands`` as history: their events are collected, not pending."""
    for command in commands:
        command(aggregate)
    aggregate.collect_events()
    return aggregate


# When / then --------------------------------------------------------------------


def when(aggregate: A, command: Callable[[A], object]) -> list[str]:
    """Run ``command``; the class names of the events it added (left pending)."""
    before = len(aggregate.pending_events)
    command(aggregate)
    return [type(event).__name__ for event in aggregate.pending_events[before:]]


def new_events(aggregate: Aggregate) -> list[Fact]:
    """The pending events, as the :class:`~domain.facts.Fact` they all are."""
    events = list(aggregate.pending_events)
    assert all(isinstance(event, Fact) for event in events)
    return [event for event in events if isinstance(event, Fact)]


def state_of(aggregate: Aggregate) -> dict[str, Any]:
    """A deep copy of everything the aggregate holds."""
    return copy.deepcopy(vars(aggregate))


E = TypeVar("E", bound=errors.DomainError)


def _check_error(
    error: errors.DomainError, error_class: type[E], code: str | None, *, exact: bool
) -> None:
    if exact:
        assert type(error) is error_class, f"{type(error).__name__}: {error}"
    else:
        assert isinstance(error, error_class), f"{type(error).__name__}: {error}"
    assert error.code == STABLE_CODES[type(error)], "a published code changed"
    if code is not None:
        assert error.code == code
    assert error.message


def _refusal(command: Callable[[], object], error_class: type[E]) -> errors.DomainError:
    try:
        command()
    except errors.DomainError as refused:
        return refused
    msg = f"expected {error_class.__name__}, but the command was accepted"
    raise AssertionError(msg)


def then_refused(
    aggregate: A,
    command: Callable[[A], object],
    error_class: type[E],
    code: str | None = None,
    *,
    exact: bool = True,
) -> errors.DomainError:
    """``command`` is refused with ``error_class`` (exactly, unless ``exact`` is
    False) and its stable code, adds no event and leaves the aggregate as it was.
    Returns the error, for checks on its message and field."""
    assert not aggregate.pending_events, "given history must be collected first"
    before = state_of(aggregate)
    error = _refusal(lambda: command(aggregate), error_class)
    _check_error(error, error_class, code, exact=exact)
    assert not aggregate.pending_events, "a refused command added an event"
    assert state_of(aggregate) == before, "a refused command changed the aggregate"
    return error


def then_not_created(
    factory: Callable[[], object], error_class: type[E], code: str | None = None
) -> errors.DomainError:
    """A creation command (assign, define, issue, register) is refused."""
    error = _refusal(factory, error_class)
    _check_error(error, error_class, code, exact=True)
    return error


def assert_provenance(event: Fact, context: Context) -> None:
    """The event carries every provenance field of the command's context."""
    assert event.actor == context.agency
    assert event.person == context.person
    assert event.occurred_at == context.occurred_at
    assert event.occurred_at.tzinfo is not None
    assert event.recorded_at == context.recorded_at
    assert event.recorded_at == event.timestamp
    assert event.channel == context.channel
    assert event.message_id == context.message_id
