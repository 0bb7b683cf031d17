"""Verdicts and errors, decoded from ``lienthong.v1.Verdict`` and ``google.rpc.Status``.

The server reports a refusal as a ``google.rpc.Status`` (in the
``grpc-status-details-bin`` trailer) whose details hold an ``ErrorInfo`` (the
domain's stable code as ``reason``), a ``BadRequest`` naming the invalid fields and,
for a refused submission, the ``lienthong.v1.Verdict`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from lienthong.v1 import envelope_pb2

Outcome = Literal["accepted", "duplicate", "rejected"]
OUTCOMES: dict[int, Outcome] = {
    envelope_pb2.OUTCOME_ACCEPTED: "accepted",
    envelope_pb2.OUTCOME_DUPLICATE: "duplicate",
    envelope_pb2.OUTCOME_REJECTED: "rejected",
}
UNREACHABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})


@dataclass(frozen=True)
class Verdict:
    """What became of one submission (an envelope or a review request).

    ``position`` is the recorded event's position in the global log (0 when nothing
    was recorded); ``reason_code`` is the stable refusal code (e.g. "NOT_LEAD_UNIT");
    ``first_outcome`` is, for a duplicate, what became of the first submission;
    ``subject_version`` is the version of the subject's stream the submission made —
    what a later correction names as its ``report_version``.
    """

    event_id: str
    outcome: Outcome
    position: int = 0
    reason_code: str = ""
    message: str = ""
    first_outcome: Outcome | None = None
    subject_version: int = 0

    @classmethod
    def from_proto(cls, message: envelope_pb2.Verdict) -> Verdict:
        """The verdict a ``lienthong.v1.Verdict`` states; one without an outcome is refused."""
        outcome = OUTCOMES.get(message.outcome)
        if outcome is None:
            msg = f"verdict on {message.event_id!r} has no outcome"
            raise ValueError(msg)
        return cls(
            event_id=message.event_id,
            outcome=outcome,
            position=message.position,
            reason_code=message.reason_code,
            message=message.message,
            first_outcome=OUTCOMES.get(message.first_outcome),
            subject_version=message.subject_version,
        )

    @property
    def refused(self) -> bool:
        """The submission is on record as refused (now, or when first submitted)."""
        return "rejected" in (self.outcome, self.first_outcome)


@dataclass(frozen=True)
class PlanFileWarning:
    """Something stored that a person should look at (a target not machine-judged):
    ``code`` the stable machine code, ``field`` where (``plan_file:LINE:FIELD``),
    ``message`` the Vietnamese sentence then the detail, ``line`` the file's line."""

    code: str
    field: str
    message: str
    line: int = 0


@dataclass(frozen=True)
class AmendmentVerdict(Verdict):
    """The verdict on a plan amendment, with what it did: ``action`` is "issued",
    "amended" or "unchanged", ``events`` how many events it recorded and ``warnings``
    what the plan file holds that a person should look at (empty on a retry)."""

    action: str = ""
    events: int = 0
    warnings: tuple[PlanFileWarning, ...] = ()


class LienthongError(Exception):
    """The server refused a request (or could not be reached).

    ``code`` is the gRPC status code's name ("INVALID_ARGUMENT"), ``reason`` the
    stable domain code from ``ErrorInfo`` ("INVALID_REQUEST", "NOT_LEAD_UNIT"),
    ``field_violations`` every ``(field, description)`` the server listed, and
    ``verdict`` the refusal's verdict when the server sent one.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        reason: str = "",
        field_violations: list[tuple[str, str]] | None = None,
        metadata: dict[str, str] | None = None,
        verdict: Verdict | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.reason = reason
        self.field_violations = list(field_violations or [])
        self.metadata = dict(metadata or {})
        self.verdict = verdict
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"{self.code} {self.reason}" if self.reason else self.code
        lines = [f"{head}: {self.message}"]
        lines += [
            f"  {name}: {description}"
            for name, description in self.field_violations
            if f"{name}: {description}" not in self.message
        ]
        return "\n".join(lines)

    @property
    def unreachable(self) -> bool:
        """The server could not be reached or did not answer in time."""
        return self.code in UNREACHABLE

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> LienthongError:
        """The error a ``google.rpc.Status`` describes, its details decoded."""
        details = _Details.of(status)
        return cls(
            code_name(status.code),
            status.message,
            reason=details.info.reason,
            field_violations=details.violations,
            metadata=dict(details.info.metadata),
            verdict=rejected_verdict(status),
        )


@dataclass
class _Details:
    """The details of a status this client understands; others are ignored."""

    info: error_details_pb2.ErrorInfo = field(default_factory=error_details_pb2.ErrorInfo)
    violations: list[tuple[str, str]] = field(default_factory=list)
    verdict: envelope_pb2.Verdict | None = None

    @classmethod
    def of(cls, status: status_pb2.Status) -> _Details:
        found = cls()
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                detail.Unpack(found.info)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                found.violations += _violations(detail)
            elif detail.Is(envelope_pb2.Verdict.DESCRIPTOR):
                found.verdict = envelope_pb2.Verdict()
                detail.Unpack(found.verdict)
        return found


def _violations(detail: any_pb2.Any) -> list[tuple[str, str]]:
    request = error_details_pb2.BadRequest()
    detail.Unpack(request)
    return [(v.field, v.description) for v in request.field_violations]


def code_name(code: int) -> str:
    """The name of a ``google.rpc.Code`` ("INVALID_ARGUMENT"), or the number if unknown."""
    try:
        name: str = code_pb2.Code.Name(code)
    except ValueError:
        return str(code)
    return name


def rejected_verdict(status: status_pb2.Status) -> Verdict | None:
    """The verdict a refused submission's status carries, or None when it has none.

    Fields the verdict leaves empty are filled from the status: the outcome is
    "rejected", the reason code is ``ErrorInfo.reason``, the message the status's.
    """
    details = _Details.of(status)
    if details.verdict is None:
        return None
    if details.verdict.outcome == envelope_pb2.OUTCOME_UNSPECIFIED:
        details.verdict.outcome = envelope_pb2.OUTCOME_REJECTED
    verdict = Verdict.from_proto(details.verdict)
    return replace(
        verdict,
        reason_code=verdict.reason_code or details.info.reason,
        message=verdict.message or status.message,
    )
