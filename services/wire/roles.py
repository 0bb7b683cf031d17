"""The role matrix: which role may call which method, and send which envelope kind.

One table (:data:`METHODS`) over every RPC of the six Lienthong services, one
(:data:`ENVELOPE_KINDS`) over every kind of envelope; ``docs/roles.md`` shows both
(a unit test keeps it equal to them). The server's authentication
(:mod:`services.grpc.auth`) enforces :data:`METHODS` on every call; the ingest paths
(gRPC and Kafka alike, hence this module's place below both) ask :func:`may_send` of
each envelope. The domain rules then decide on which items
(the lead, the reviewer, the coordinator): the matrix only says who may ask at all.

``None`` stands for an anonymous caller (plaintext, development only): it may read
plans, the watch stream and the log's public proofs, and nothing else.

Agencies review too (as the monitors of KPIs), so the review methods and kinds are
open to them; changing deadlines, dependencies and the plan is the office's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.keys import Role

Caller = Role | None
ALL: frozenset[Caller] = frozenset(Role)
ANONYMOUS: Caller = None
SPEAKERS = frozenset({Role.AGENCY, Role.OFFICE, Role.STEERING_COMMITTEE})
OVERSIGHT = frozenset({Role.OFFICE, Role.STEERING_COMMITTEE, Role.AUDITOR, Role.OPERATOR})
READERS: frozenset[Caller] = ALL | {ANONYMOUS}

PLAN_METHODS = (
    "ListPlans",
    "GetPlan",
    "ListTasks",
    "GetTask",
    "ListIndicators",
    "GetIndicator",
    "GetPlanStatus",
    "ListRedFlags",
    "GetDependencies",
    "ListScorecards",
    "ListBottlenecks",
    "ListRollups",
    "ListIndicatorRollups",
    "ListPeriodSummaries",
    "ListMissingReports",
)
# The log's public, verifiable parts: anyone may check a proof.
AUDIT_PROOFS = ("GetCheckpoint", "GetInclusionProof", "GetConsistencyProof")


def _rows(
    service: str, methods: Iterable[str], roles: Iterable[Caller]
) -> dict[str, frozenset[Caller]]:
    allowed = frozenset(roles)
    return {f"lienthong.v1.{service}/{m}": allowed for m in methods}


# Method (full name "package.Service/Method") → the callers it is open to.
METHODS: Mapping[str, frozenset[Caller]] = {
    **_rows("IngestService", ("Publish", "PublishStream"), SPEAKERS),
    **_rows("ReviewService", ("AcceptEvidence", "RejectEvidence", "ConfirmCompletion"), SPEAKERS),
    **_rows(
        "ReviewService",
        ("ChangeDeadline", "DeclareDependency", "WithdrawDependency", "AmendPlan"),
        {Role.OFFICE},
    ),
    **_rows("PlanService", PLAN_METHODS, READERS),
    **_rows("WatchService", ("WatchChanges",), READERS),
    # A periodic report holds what PlanService's reads answer: the same callers.
    **_rows("ReportService", ("GetReport",), READERS),
    **_rows("AuditService", ("ListEvents", "StreamLog"), OVERSIGHT),
    **_rows("AuditService", ("GetPlanStatusAsOf",), OVERSIGHT | {Role.AGENCY}),
    **_rows("AuditService", ("ListCorrections", "GetInspection"), OVERSIGHT),
    **_rows("AuditService", AUDIT_PROOFS, READERS),
    **_rows("AuditService", ("GetLogStatus",), {Role.AUDITOR, Role.OFFICE, Role.OPERATOR}),
    # Witnesses are known by their note keys, not by who hands their cosignatures in.
    **_rows("AuditService", ("AddCosignature",), {Role.AUDITOR, Role.OPERATOR}),
}

REPORTS = (
    "progress_reported",
    "contribution_reported",
    "report_corrected",
    "indicator_measured",
    "measurement_corrected",
    "evidence_submitted",
    "completion_claimed",
    "obstacle_raised",
    "obstacle_resolved",
)
REVIEWS = ("evidence_accepted", "evidence_rejected", "completion_confirmed")
CHANGES = ("deadline_changed", "dependency_declared", "dependency_withdrawn")

# Envelope kind (the payload field's name) → the roles that may send it.
ENVELOPE_KINDS: Mapping[str, frozenset[Role]] = {
    **dict.fromkeys(REPORTS, SPEAKERS),
    **dict.fromkeys(REVIEWS, SPEAKERS),
    **dict.fromkeys(CHANGES, frozenset({Role.OFFICE})),
}


def may_call(caller: Caller, method: str) -> bool:
    """Whether ``caller`` (a role; None: anonymous) may call ``method``
    ("lienthong.v1.Service/Method"). A method the table does not name is closed."""
    return caller in METHODS.get(method, frozenset())


def may_send(role: Role | None, kind: str) -> bool:
    """Whether ``role`` (None: anonymous) may send an envelope of ``kind`` (the
    payload's field name, e.g. "deadline_changed"). An unknown kind is not refused
    here (the codec refuses it with its own code)."""
    if kind not in ENVELOPE_KINDS:
        return True
    return role is not None and role in ENVELOPE_KINDS[kind]
