"""Domain errors: each violation of a rule has its own class and a stable code.

The code (``ErrorClass.code``) is the machine-readable reason carried to every
client (the CLI's JSON output, gRPC ``ErrorInfo.reason``, rejection records). Codes
never change once published; a new rule gets a new code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar


class DomainError(Exception):
    """A command broke a rule of the domain. Nothing was recorded."""

    code: ClassVar[str] = "DOMAIN_ERROR"
    # The kind of failure, for mapping onto transport errors:
    # "invalid" (bad value), "forbidden" (wrong actor), "precondition" (wrong state),
    # "not_found", "conflict".
    kind: ClassVar[str] = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str]:
        """Plain form for clients and records."""
        data = {"code": self.code, "message": self.message}
        if self.field is not None:
            data["field"] = self.field
        return data


class InvalidValueError(DomainError):
    code = "INVALID_VALUE"


def reject_unknown_fields(given: Iterable[str], allowed: Iterable[str], what: str) -> None:
    """Refuse fields that are not part of ``what``, naming the first one."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        msg = f"unknown {what} fields: {', '.join(unknown)}"
        raise InvalidValueError(msg, field=unknown[0])


class UnrecognisedDeadlineError(InvalidValueError):
    code = "DEADLINE_UNRECOGNISED"


class UnrecognisedTargetError(InvalidValueError):
    code = "TARGET_UNRECOGNISED"


class DuplicateTargetError(InvalidValueError):
    code = "TARGET_DUPLICATE"


class UnrecognisedUnitError(InvalidValueError):
    code = "UNIT_UNRECOGNISED"


class PercentOutOfRangeError(InvalidValueError):
    code = "PERCENT_OUT_OF_RANGE"


class UnitMismatchError(InvalidValueError):
    code = "UNIT_MISMATCH"


class MissingReasonError(InvalidValueError):
    code = "REASON_REQUIRED"


class NotLeadUnitError(DomainError):
    code = "NOT_LEAD_UNIT"
    kind = "forbidden"


class NotParticipantError(DomainError):
    code = "NOT_PARTICIPANT"
    kind = "forbidden"


class NotReviewerError(DomainError):
    code = "NOT_REVIEWER"
    kind = "forbidden"


class NotCoordinatorError(DomainError):
    code = "NOT_COORDINATOR"
    kind = "forbidden"


class SelfReviewError(DomainError):
    """A unit judges what it takes part in: an item it leads or helps with, evidence
    it submitted, or a completion it claimed."""

    code = "SELF_REVIEW"
    kind = "forbidden"


class CollectiveCannotActError(DomainError):
    """A collective ("Các cơ quan, đơn vị") acts only through its members."""

    code = "COLLECTIVE_CANNOT_ACT"
    kind = "forbidden"


class ProgressDecreaseError(DomainError):
    code = "PROGRESS_DECREASE_NEEDS_CORRECTION"
    kind = "precondition"


class EvidenceRequiredError(DomainError):
    code = "EVIDENCE_REQUIRED"
    kind = "precondition"


class UnknownEvidenceError(DomainError):
    code = "EVIDENCE_UNKNOWN"
    kind = "not_found"


class EvidenceAlreadyJudgedError(DomainError):
    code = "EVIDENCE_ALREADY_JUDGED"
    kind = "precondition"


class DuplicateEvidenceError(DomainError):
    code = "EVIDENCE_DUPLICATE"
    kind = "conflict"


class NoPendingClaimError(DomainError):
    code = "NO_PENDING_COMPLETION_CLAIM"
    kind = "precondition"


class KpiTargetNotMetError(DomainError):
    """An indicator is "Hoàn thành" only when its latest measurement meets its target."""

    code = "KPI_TARGET_NOT_MET"
    kind = "precondition"


class ItemClosedError(DomainError):
    code = "ITEM_CLOSED"
    kind = "precondition"


class GroupItemError(DomainError):
    code = "GROUP_ITEM_NOT_REPORTABLE"
    kind = "precondition"


class NotMeasuredError(DomainError):
    """A qualitative indicator (every milestone a commitment "X" or a wording not
    machine-judged) is judged by accepted evidence: it takes no measurement."""

    code = "INDICATOR_NOT_MEASURED"
    kind = "precondition"


class UnknownReportError(DomainError):
    code = "REPORT_UNKNOWN"
    kind = "not_found"


class UnknownObstacleError(DomainError):
    code = "OBSTACLE_UNKNOWN"
    kind = "not_found"


class DependencyCycleError(DomainError):
    code = "DEPENDENCY_CYCLE"
    kind = "precondition"


class UnknownDependencyError(DomainError):
    code = "DEPENDENCY_UNKNOWN"
    kind = "not_found"


class DuplicateDependencyError(DomainError):
    code = "DEPENDENCY_DUPLICATE"
    kind = "conflict"


class NotFoundError(DomainError):
    code = "NOT_FOUND"
    kind = "not_found"


class UnrecognisedMeasurementError(InvalidValueError):
    """A measured value cannot be read against its target (not a number, level…)."""

    code = "MEASUREMENT_UNRECOGNISED"


class EvidenceUriError(InvalidValueError):
    code = "EVIDENCE_URI"


class OccurredInFutureError(InvalidValueError):
    code = "OCCURRED_AT_IN_FUTURE"


class OccurredBeforePlanError(InvalidValueError):
    code = "OCCURRED_AT_BEFORE_PLAN"


class AsOfOutOfRangeError(InvalidValueError):
    code = "AS_OF_OUT_OF_RANGE"


class PeriodOutOfRangeError(InvalidValueError):
    code = "PERIOD_OUT_OF_RANGE"


def kind_of(code: str) -> str:
    """The kind of the domain error with stable ``code`` ("invalid" when unknown)."""
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls.kind
        pending.extend(cls.__subclasses__())
    return "invalid"


class IdempotencyKeyReusedError(DomainError):
    """A submission's key (an agency's event id; a reviewer's request id for one kind
    of review) was first used for another payload: a new submission needs a new key."""

    code = "IDEMPOTENCY_KEY_REUSED"
    kind = "conflict"
