"""The client of the coordination office: review, amend, and query plans and the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import grpc
from google.protobuf.message import Message
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    reports_pb2,
    reports_pb2_grpc,
    resources_pb2,
    review_service_pb2,
    review_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)

from lienthong_sdk._rpc import ClientBase, paginate
from lienthong_sdk.envelopes import Quality, day, quality_value, timestamp
from lienthong_sdk.identity import Identity
from lienthong_sdk.verdicts import AmendmentVerdict, PlanFileWarning, Verdict
from lienthong_sdk.watch import Watch

ItemStatus = Literal[
    "not_started", "in_progress", "submitted", "completed", "awaiting_completion", "cancelled"
]
DEFAULT_PAGE_SIZE = 200


def item_status(status: ItemStatus | None) -> resources_pb2.ItemStatus.ValueType:
    """The wire value of an item status name ("awaiting_completion", …); None: any."""
    if status is None:
        return resources_pb2.ITEM_STATUS_UNSPECIFIED
    return resources_pb2.ItemStatus.Value(f"ITEM_STATUS_{status.upper()}")


def _day(value: date | None) -> str:
    return "" if value is None else day(value)


def _known(value: datetime | None) -> Any:
    """``as_known_at`` on the wire: unset (None) for what the store holds now."""
    return None if value is None else timestamp(value)


def _task_key(plan_id: str, task: str) -> str:
    """A task key ("24") from a key or a full name ("PLAN/task/24")."""
    return task.removeprefix(f"{plan_id}/task/")


class CoordinationClient(ClientBase):
    """The coordination office's client, acting as ``agency_id`` (and ``person``).

    With ``identity`` (the office's certificate and key) the channel to "host:port"
    is mutual TLS and every review request is signed; without one, a plaintext
    channel reaches only a development server, and only to read.

    Every review call sends a ``request_id`` (a new UUID unless given) that retries
    reuse, so a retried call that had landed gets its first verdict back. A refused
    review returns a "rejected" :class:`Verdict`; other refusals, and refused queries,
    raise :class:`~lienthong_sdk.verdicts.LienthongError`. List methods return
    iterators that fetch further pages as they are consumed (errors surface then).
    """

    def __init__(
        self,
        target: str | grpc.Channel,
        agency_id: str,
        person: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.2,
        page_size: int = DEFAULT_PAGE_SIZE,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(
            target, identity=identity, timeout=timeout, retries=retries, backoff=backoff
        )
        self.agency_id = agency_id
        self.person = person
        self.page_size = page_size
        self._review = review_service_pb2_grpc.ReviewServiceStub(self.channel)
        self._plans = plan_service_pb2_grpc.PlanServiceStub(self.channel)
        self._audit = audit_service_pb2_grpc.AuditServiceStub(self.channel)
        self._reports = reports_pb2_grpc.ReportServiceStub(self.channel)
        self._watch = watch_service_pb2_grpc.WatchServiceStub(self.channel)

    def _reviewer(self) -> review_service_pb2.Reviewer:
        return review_service_pb2.Reviewer(
            agency_id=self.agency_id,
            person=self.person or "",
            occurred_at=timestamp(datetime.now(UTC)),
        )

    def _review_call(self, method: Any, request: Message) -> Verdict:
        verdict, _ = self._rpc.submit(method, self._signed(request))
        return verdict

    # Reviews ----------------------------------------------------------------------------

    def accept_evidence(
        self,
        subject: str,
        sha256: str,
        quality: Quality | None = None,
        reason: str = "",
        *,
        request_id: str | None = None,
    ) -> Verdict:
        """Accept the evidence ``sha256`` of a task or indicator (quality "good" when
        omitted, as the server decides)."""
        request = review_service_pb2.AcceptEvidenceRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            subject=subject,
            sha256=sha256,
            quality=quality_value(quality),
            reason=reason,
        )
        return self._review_call(self._review.AcceptEvidence, request)

    def reject_evidence(
        self,
        subject: str,
        sha256: str,
        reason: str,
        quality: Quality | None = None,
        *,
        request_id: str | None = None,
    ) -> Verdict:
        """Reject the evidence ``sha256``: the item goes back to "Chờ hoàn thiện"
        (quality "low" when omitted, as the server decides)."""
        request = review_service_pb2.RejectEvidenceRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            subject=subject,
            sha256=sha256,
            quality=quality_value(quality),
            reason=reason,
        )
        return self._review_call(self._review.RejectEvidence, request)

    def confirm_completion(
        self, subject: str, note: str = "", *, request_id: str | None = None
    ) -> Verdict:
        """Confirm an item's completion claim."""
        request = review_service_pb2.ConfirmCompletionRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            subject=subject,
            note=note,
        )
        return self._review_call(self._review.ConfirmCompletion, request)

    def change_deadline(
        self,
        subject: str,
        deadline: str,
        reason: str,
        document: str,
        *,
        request_id: str | None = None,
    ) -> Verdict:
        """Move a task's deadline ("Quý II/2026") on the authority of ``document``."""
        request = review_service_pb2.ChangeDeadlineRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            subject=subject,
            deadline=deadline,
            reason=reason,
            document=document,
        )
        return self._review_call(self._review.ChangeDeadline, request)

    def declare_dependency(
        self,
        plan_id: str,
        upstream_task: str,
        downstream_task: str,
        reason: str,
        *,
        request_id: str | None = None,
    ) -> Verdict:
        """Declare that ``downstream_task`` waits on ``upstream_task`` (task keys such as
        "24", or full names "PLAN/task/24")."""
        request = review_service_pb2.DeclareDependencyRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            plan_id=plan_id,
            upstream_task=_task_key(plan_id, upstream_task),
            downstream_task=_task_key(plan_id, downstream_task),
            reason=reason,
        )
        return self._review_call(self._review.DeclareDependency, request)

    def withdraw_dependency(
        self,
        plan_id: str,
        upstream_task: str,
        downstream_task: str,
        reason: str,
        *,
        request_id: str | None = None,
    ) -> Verdict:
        """Withdraw a declared dependency between two tasks of the plan."""
        request = review_service_pb2.WithdrawDependencyRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            plan_id=plan_id,
            upstream_task=_task_key(plan_id, upstream_task),
            downstream_task=_task_key(plan_id, downstream_task),
            reason=reason,
        )
        return self._review_call(self._review.WithdrawDependency, request)

    def amend_plan(
        self, plan_file: bytes | Path, reason: str, *, request_id: str | None = None
    ) -> AmendmentVerdict:
        """Amend a plan with an edited plan file (its bytes or its path); the verdict
        says whether the plan was "issued", "amended" or "unchanged" and how many
        events that recorded."""
        content = plan_file.read_bytes() if isinstance(plan_file, Path) else plan_file
        request = review_service_pb2.AmendPlanRequest(
            request_id=request_id or str(uuid.uuid4()),
            reviewer=self._reviewer(),
            plan_file=content,
            reason=reason,
        )
        verdict, response = self._rpc.submit(self._review.AmendPlan, self._signed(request))
        action = response.action if response is not None else ""
        events = response.events if response is not None else 0
        warnings = tuple(
            PlanFileWarning(code=w.code, field=w.field, message=w.message, line=w.line)
            for w in (response.warnings if response is not None else ())
        )
        return AmendmentVerdict(**vars(verdict), action=action, events=events, warnings=warnings)

    # Plans, tasks, indicators ----------------------------------------------------------

    def list_plans(
        self, ward_id: str | None = None, *, as_known_at: datetime | None = None
    ) -> Iterator[resources_pb2.Plan]:
        """Every plan (of the ward ``ward_id``, when given), as known at ``as_known_at``
        (default: now)."""
        request = plan_service_pb2.ListPlansRequest(
            ward_id=ward_id or "", page_size=self.page_size, as_known_at=_known(as_known_at)
        )

        def fetch(token: str) -> tuple[list[resources_pb2.Plan], str]:
            request.page_token = token
            page: plan_service_pb2.ListPlansResponse = self._rpc.query(
                self._plans.ListPlans, request
            )
            return list(page.plans), page.next_page_token

        return paginate(fetch)

    def get_plan(self, plan_id: str, *, as_known_at: datetime | None = None) -> resources_pb2.Plan:
        """One plan, summarised, as known at ``as_known_at`` (default: now)."""
        request = plan_service_pb2.GetPlanRequest(plan_id=plan_id, as_known_at=_known(as_known_at))
        response: plan_service_pb2.GetPlanResponse = self._rpc.query(self._plans.GetPlan, request)
        return response.plan

    def list_tasks(
        self,
        plan_id: str,
        *,
        agency_id: str | None = None,
        status: ItemStatus | None = None,
        red_flag: bool = False,
        due_before: date | None = None,
        as_of: date | None = None,
        as_known_at: datetime | None = None,
    ) -> Iterator[resources_pb2.Task]:
        """The tasks of a plan, filtered: those ``agency_id`` leads or helps with, in
        ``status``, with a red flag, due before a day — on ``as_of`` (default today: what
        the reports said about that day) as known at ``as_known_at`` (default: now)."""
        request = plan_service_pb2.ListTasksRequest(
            plan_id=plan_id,
            agency_id=agency_id or "",
            status=item_status(status),
            red_flag=red_flag,
            due_before=_day(due_before),
            as_of=_day(as_of),
            as_known_at=_known(as_known_at),
            page_size=self.page_size,
        )

        def fetch(token: str) -> tuple[list[resources_pb2.Task], str]:
            request.page_token = token
            page: plan_service_pb2.ListTasksResponse = self._rpc.query(
                self._plans.ListTasks, request
            )
            return list(page.tasks), page.next_page_token

        return paginate(fetch)

    def get_task(
        self, name: str, as_of: date | None = None, *, as_known_at: datetime | None = None
    ) -> resources_pb2.Task:
        """One task by name ("PLAN/task/KEY") on ``as_of`` as known at ``as_known_at``."""
        request = plan_service_pb2.GetTaskRequest(
            name=name, as_of=_day(as_of), as_known_at=_known(as_known_at)
        )
        response: plan_service_pb2.GetTaskResponse = self._rpc.query(self._plans.GetTask, request)
        return response.task

    def list_indicators(
        self,
        plan_id: str,
        *,
        agency_id: str | None = None,
        status: ItemStatus | None = None,
        as_of: date | None = None,
        as_known_at: datetime | None = None,
    ) -> Iterator[resources_pb2.Indicator]:
        """The indicators of a plan (those ``agency_id`` leads or monitors, in
        ``status``) on ``as_of`` as known at ``as_known_at``."""
        request = plan_service_pb2.ListIndicatorsRequest(
            plan_id=plan_id,
            agency_id=agency_id or "",
            status=item_status(status),
            as_of=_day(as_of),
            as_known_at=_known(as_known_at),
            page_size=self.page_size,
        )

        def fetch(token: str) -> tuple[list[resources_pb2.Indicator], str]:
            request.page_token = token
            page: plan_service_pb2.ListIndicatorsResponse = self._rpc.query(
                self._plans.ListIndicators, request
            )
            return list(page.indicators), page.next_page_token

        return paginate(fetch)

    def get_indicator(
        self, name: str, as_of: date | None = None, *, as_known_at: datetime | None = None
    ) -> resources_pb2.Indicator:
        """One indicator by name ("PLAN/indicator/NUMBER") on ``as_of`` as known at
        ``as_known_at``."""
        request = plan_service_pb2.GetIndicatorRequest(
            name=name, as_of=_day(as_of), as_known_at=_known(as_known_at)
        )
        response: plan_service_pb2.GetIndicatorResponse = self._rpc.query(
            self._plans.GetIndicator, request
        )
        return response.indicator

    def get_plan_status(
        self, plan_id: str, as_of: date | None = None, *, as_known_at: datetime | None = None
    ) -> resources_pb2.PlanStatus:
        """The consolidated status of a plan on ``as_of`` (default today) as known at
        ``as_known_at`` (default: now)."""
        request = plan_service_pb2.GetPlanStatusRequest(
            plan_id=plan_id, as_of=_day(as_of), as_known_at=_known(as_known_at)
        )
        response: plan_service_pb2.GetPlanStatusResponse = self._rpc.query(
            self._plans.GetPlanStatus, request
        )
        return response.status

    def list_red_flags(
        self,
        *,
        plan_id: str | None = None,
        agency_id: str | None = None,
        as_of: date | None = None,
        include_cleared: bool = False,
        as_known_at: datetime | None = None,
    ) -> Iterator[resources_pb2.RedFlag]:
        """The red flags up on ``as_of`` (default today) on a plan's items or on the
        items an agency leads — with ``include_cleared``, their whole raise/clear history."""
        request = plan_service_pb2.ListRedFlagsRequest(
            plan_id=plan_id or "",
            agency_id=agency_id or "",
            as_of=_day(as_of),
            as_known_at=_known(as_known_at),
            include_cleared=include_cleared,
            page_size=self.page_size,
        )

        def fetch(token: str) -> tuple[list[resources_pb2.RedFlag], str]:
            request.page_token = token
            page: plan_service_pb2.ListRedFlagsResponse = self._rpc.query(
                self._plans.ListRedFlags, request
            )
            return list(page.flags), page.next_page_token

        return paginate(fetch)

    def list_missing_reports(
        self,
        *,
        plan_id: str | None = None,
        agency_id: str | None = None,
        as_of: date | None = None,
        as_known_at: datetime | None = None,
    ) -> Iterator[plan_service_pb2.MissingReport]:
        """The reports owed on ``as_of`` (default today), per item of a plan or led by
        an agency and per reporting period due and not reported — with the units owing."""
        request = plan_service_pb2.ListMissingReportsRequest(
            plan_id=plan_id or "",
            agency_id=agency_id or "",
            as_of=_day(as_of),
            as_known_at=_known(as_known_at),
            page_size=self.page_size,
        )

        def fetch(token: str) -> tuple[list[plan_service_pb2.MissingReport], str]:
            request.page_token = token
            page: plan_service_pb2.ListMissingReportsResponse = self._rpc.query(
                self._plans.ListMissingReports, request
            )
            return list(page.missing), page.next_page_token

        return paginate(fetch)

    def get_dependencies(
        self,
        plan_id: str,
        as_of: date | None = None,
        window_days: int = 0,
        *,
        as_known_at: datetime | None = None,
    ) -> plan_service_pb2.GetDependenciesResponse:
        """Who waits on whom in a plan, what is blocked on ``as_of``, its critical path
        and bottlenecks (``window_days`` 0: the server's default window)."""
        request = plan_service_pb2.GetDependenciesRequest(
            plan_id=plan_id,
            as_of=_day(as_of),
            window_days=window_days,
            as_known_at=_known(as_known_at),
        )
        response: plan_service_pb2.GetDependenciesResponse = self._rpc.query(
            self._plans.GetDependencies, request
        )
        return response

    def list_scorecards(
        self,
        *,
        plan_id: str | None = None,
        ward_id: str | None = None,
        as_of: date | None = None,
        as_known_at: datetime | None = None,
    ) -> Iterator[plan_service_pb2.Scorecard]:
        """Agencies ranked by score (best first), each with every part of its score."""
        request = plan_service_pb2.ListScorecardsRequest(
            plan_id=plan_id or "",
            ward_id=ward_id or "",
            as_of=_day(as_of),
            as_known_at=_known(as_known_at),
            page_size=self.page_size,
        )

        def fetch(token: str) -> tuple[list[plan_service_pb2.Scorecard], str]:
            request.page_token = token
            page: plan_service_pb2.ListScorecardsResponse = self._rpc.query(
                self._plans.ListScorecards, request
            )
            return list(page.scorecards), page.next_page_token

        return paginate(fetch)

    # Live -------------------------------------------------------------------------------

    def watch(
        self,
        *,
        plan_id: str | None = None,
        agency_id: str | None = None,
        view: str | None = None,
        initial_rows: bool = False,
        from_position: int = 0,
    ) -> Watch:
        """Follow a plan or an agency live (``WatchService.WatchChanges``): the events
        recorded from now on (or from ``from_position``), or, with ``view``, that view's
        rows as they change (``initial_rows``: every row as it stands first). The stream
        has no deadline; :meth:`Watch.cancel` ends it."""
        request = watch_service_pb2.WatchChangesRequest(
            plan_id=plan_id or "",
            agency_id=agency_id or "",
            view=view or "",
            initial_rows=initial_rows,
            from_position=from_position,
        )
        return Watch(self._watch.WatchChanges(request))

    # The audit log ----------------------------------------------------------------------

    def list_events(
        self,
        *,
        subject: str | None = None,
        plan_id: str | None = None,
        agency_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        late_only: bool = False,
    ) -> Iterator[resources_pb2.AuditEvent]:
        """The recorded events of exactly one of a subject, a plan or an agency, oldest
        first, recorded at or after ``start`` and before ``end`` (aware datetimes);
        only the late reports if ``late_only``."""
        if sum(bool(x) for x in (subject, plan_id, agency_id)) != 1:
            raise ValueError("give exactly one of subject, plan_id and agency_id")
        request = audit_service_pb2.ListEventsRequest(
            subject=subject or "",
            plan_id=plan_id or "",
            agency_id=agency_id or "",
            start_time=None if start is None else timestamp(start),
            end_time=None if end is None else timestamp(end),
            page_size=self.page_size,
            late_only=late_only,
        )

        def fetch(token: str) -> tuple[list[resources_pb2.AuditEvent], str]:
            request.page_token = token
            page: audit_service_pb2.ListEventsResponse = self._rpc.query(
                self._audit.ListEvents, request
            )
            return list(page.events), page.next_page_token

        return paginate(fetch)

    def get_plan_status_as_of(
        self, plan_id: str, known_at: datetime, as_of: date | None = None
    ) -> resources_pb2.PlanStatus:
        """The status of a plan as it was known at ``known_at`` (an aware datetime),
        deadlines judged on ``as_of`` (default: the day of ``known_at``)."""
        request = audit_service_pb2.GetPlanStatusAsOfRequest(
            plan_id=plan_id, known_at=timestamp(known_at), as_of=_day(as_of)
        )
        response: audit_service_pb2.GetPlanStatusAsOfResponse = self._rpc.query(
            self._audit.GetPlanStatusAsOf, request
        )
        return response.status

    def list_corrections(
        self,
        recorded_after: datetime,
        *,
        plan_id: str | None = None,
        agency_id: str | None = None,
        recorded_before: datetime | None = None,
    ) -> Iterator[audit_service_pb2.Correction]:
        """The corrections of exactly one of a plan or an agency recorded after
        ``recorded_after`` (and before ``recorded_before``), oldest first, each with the
        values it replaced."""
        if bool(plan_id) == bool(agency_id):
            raise ValueError("give exactly one of plan_id and agency_id")
        request = audit_service_pb2.ListCorrectionsRequest(
            plan_id=plan_id or "",
            agency_id=agency_id or "",
            recorded_after=timestamp(recorded_after),
            recorded_before=None if recorded_before is None else timestamp(recorded_before),
            page_size=self.page_size,
        )

        def fetch(token: str) -> tuple[list[audit_service_pb2.Correction], str]:
            request.page_token = token
            page: audit_service_pb2.ListCorrectionsResponse = self._rpc.query(
                self._audit.ListCorrections, request
            )
            return list(page.corrections), page.next_page_token

        return paginate(fetch)

    def get_inspection(
        self, plan_id: str, as_of: date, known_at: datetime
    ) -> audit_service_pb2.GetInspectionResponse:
        """The inspector's one call: the plan's status on ``as_of`` as known at
        ``known_at``, the corrections recorded after, the late reports known by then
        and the signed checkpoint that covers them (``covered`` false when none yet)."""
        request = audit_service_pb2.GetInspectionRequest(
            plan_id=plan_id, as_of=_day(as_of), known_at=timestamp(known_at)
        )
        response: audit_service_pb2.GetInspectionResponse = self._rpc.query(
            self._audit.GetInspection, request
        )
        return response

    def get_report(
        self,
        plan_id: str,
        period: str,
        fmt: Literal["xlsx", "pdf"] = "pdf",
        *,
        known_at: datetime | None = None,
        save_to: Path | None = None,
    ) -> reports_pb2.GetReportResponse:
        """The plan's periodic report for ``period`` ("2026-03", "2026-Q1", "2026-H1",
        "2026") in Vietnamese, as an XLSX or PDF file (``content``, ``filename``,
        ``media_type``), from what was recorded up to ``known_at`` (default: now),
        stamped with the log position and the signed checkpoint it covers; written
        to ``save_to`` (a folder: under its ``filename``) when given."""
        request = reports_pb2.GetReportRequest(
            plan_id=plan_id, period=period, format=fmt, known_at=_known(known_at)
        )
        response: reports_pb2.GetReportResponse = self._rpc.query(self._reports.GetReport, request)
        if save_to is not None:
            path = save_to / response.filename if save_to.is_dir() else save_to
            path.write_bytes(response.content)
        return response
