"""PlanService: plans, tasks, indicators, the consolidated status, red flags,
dependencies, scorecards and bottlenecks — answered on the event loop from the rows
of the read's basis: the live views', or for a bitemporal read (a past day, or as
known at a time) the log's replayed (see :mod:`services.grpc.reads`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from lienthong.v1 import plan_service_pb2 as pb
from lienthong.v1 import plan_service_pb2_grpc, resources_pb2

from domain.errors import NotFoundError
from domain.ids import parse_ref
from projections.dependencies import blocked, bottlenecks, critical_path, graphs
from projections.engine.rows import Views
from projections.plans import items_of, plan_status
from projections.red_flags import led_items, missing_reports, raised_flags
from projections.scorecards import PART_TITLES, standings
from services.grpc import pages
from services.grpc.reads import (
    Basis,
    Reads,
    flag_message,
    indicator_resource,
    plan_resource,
    task_resource,
)
from services.grpc.rollups import RollupQueries
from services.wire.convert import Checker, plan_status_message, status_from_message

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3660  # ten years ahead
T = TypeVar("T")


def one_of(check: Checker, plan_id: str, agency_id: str) -> None:
    check.one_of(plan_id=plan_id, agency_id=agency_id)


def bottleneck_message(found: dict[str, Any]) -> pb.Bottleneck:
    return pb.Bottleneck(
        agency_id=found["agency"],
        late_tasks=found["late_tasks"],
        held_tasks=found["held_tasks"],
        held_agencies=found["held_agencies"],
    )


def scorecard_message(rank: int, card: dict[str, Any]) -> pb.Scorecard:
    return pb.Scorecard(
        rank=rank,
        agency_id=card["agency"],
        score=card["score"],
        tasks=card["tasks"],
        indicators=card["indicators"],
        open_obstacles=card["open_obstacles"],
        parts=[
            pb.ScorePart(
                name=name,
                count=part["count"],
                of=part["of"],
                rate=part["rate"],
                weight=part["weight"],
                title=PART_TITLES.get(name, name),
            )
            for name, part in card["parts"].items()
        ],
    )


class PlanServicer(RollupQueries, plan_service_pb2_grpc.PlanServiceServicer):
    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    @staticmethod
    def answer(
        basis: Basis, method: str, request: Message, plan: str, compute: Callable[[], T]
    ) -> T:
        """The response to ``request``, computed once while the plan's rows stay."""
        key = (method, request.SerializeToString(deterministic=True))
        return basis.cached(key, plan, compute)

    # Plans -----------------------------------------------------------------------

    @staticmethod
    def plans(views: Views) -> list[resources_pb2.Plan]:
        return [plan_resource(views, row) for _, row in sorted(views["plans"].items())]

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPlansResponse:
        check = Checker()
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        plans = basis.cached(("plans",), None, lambda: self.plans(basis.views))
        chosen = [p for p in plans if not request.ward_id or p.ward_id == request.ward_id]
        chunk, token = pages.page(chosen, offset, size)
        return pb.ListPlansResponse(plans=chunk, next_page_token=token, answered_on=basis.message())

    async def GetPlan(
        self, request: pb.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        basis = await self.reads.basis(check, request)
        plan = plan_resource(basis.views, basis.plan(request.plan_id))
        return pb.GetPlanResponse(plan=plan, answered_on=basis.message())

    # Tasks -----------------------------------------------------------------------

    @staticmethod
    def tasks(basis: Basis, plan_id: str) -> list[tuple[dict[str, Any], Any]]:
        """A plan's tasks as (row, message), judged on the basis' day."""
        views = basis.views
        rows = items_of(views, basis.plan(plan_id))
        return [
            (row, task_resource(views, name, row, basis.day))
            for name, row in rows
            if "/task/" in name
        ]

    async def ListTasks(
        self, request: pb.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTasksResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        due_before = check.date("due_before", request.due_before, required=False)
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        plan = request.plan_id

        def listed() -> pb.ListTasksResponse:
            tasks = basis.cached(("tasks", plan), plan, lambda: self.tasks(basis, plan))
            wanted = status_from_message(request.status)
            agency = request.agency_id
            chosen = [
                message
                for row, message in tasks
                if (not agency or agency in row["lead"] or agency in row["coordinating"])
                and (wanted is None or row["status"] == wanted.value)
                and (not request.red_flag or message.red_flags)
                and (due_before is None or (row["due"] and row["due"] < due_before.isoformat()))
            ]
            chunk, token = pages.page(chosen, offset, size)
            return pb.ListTasksResponse(
                tasks=chunk, next_page_token=token, answered_on=basis.message()
            )

        return self.answer(basis, "ListTasks", request, plan, listed)

    async def GetTask(
        self, request: pb.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTaskResponse:
        check = Checker()
        check.subject("name", request.name)
        if not check.violations and parse_ref(request.name).kind.value != "task":
            check.add("name", "must name a task: PLAN/task/KEY")
        basis = await self.reads.basis(check, request)
        row = basis.views["task_status"].get(request.name)
        if row is None:
            raise NotFoundError(basis.missing(request.name), field="name")
        task = task_resource(basis.views, request.name, row, basis.day, history=True)
        return pb.GetTaskResponse(task=task, answered_on=basis.message())

    # Indicators ------------------------------------------------------------------

    async def ListIndicators(
        self, request: pb.ListIndicatorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIndicatorsResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        views = basis.views
        wanted = status_from_message(request.status)
        agency = request.agency_id
        chosen = [
            indicator_resource(views, name, row, basis.day)
            for name, row in items_of(views, basis.plan(request.plan_id))
            if "/indicator/" in name
            and (not agency or agency in row["lead"] or agency in row["monitor"])
            and (wanted is None or row["status"] == wanted.value)
        ]
        chunk, token = pages.page(chosen, offset, size)
        return pb.ListIndicatorsResponse(
            indicators=chunk, next_page_token=token, answered_on=basis.message()
        )

    async def GetIndicator(
        self, request: pb.GetIndicatorRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIndicatorResponse:
        check = Checker()
        check.subject("name", request.name)
        if not check.violations and parse_ref(request.name).kind.value != "indicator":
            check.add("name", "must name an indicator: PLAN/indicator/NUMBER")
        basis = await self.reads.basis(check, request)
        row = basis.views["kpi_attainment"].get(request.name)
        if row is None:
            raise NotFoundError(basis.missing(request.name), field="name")
        return pb.GetIndicatorResponse(
            indicator=indicator_resource(basis.views, request.name, row, basis.day),
            answered_on=basis.message(),
        )

    # Status ----------------------------------------------------------------------

    async def GetPlanStatus(
        self, request: pb.GetPlanStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanStatusResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        basis = await self.reads.basis(check, request)
        plan = request.plan_id

        def status() -> pb.GetPlanStatusResponse:
            basis.plan(plan)
            found = plan_status(basis.views, plan, basis.day, basis.position)
            return pb.GetPlanStatusResponse(
                status=plan_status_message(found), answered_on=basis.message()
            )

        return self.answer(basis, "GetPlanStatus", request, plan, status)

    # Red flags -------------------------------------------------------------------

    @staticmethod
    def red_flags(
        basis: Basis, plan_id: str, agency_id: str, *, include_cleared: bool
    ) -> list[resources_pb2.RedFlag]:
        views = basis.views
        names = (
            [name for name, _ in items_of(views, basis.plan(plan_id))]
            if plan_id
            else led_items(views, agency_id)
        )
        return [
            flag_message(span, name, lead)
            for name, lead, span in raised_flags(
                views, names, basis.day, include_cleared=include_cleared
            )
        ]

    async def item_page(
        self, request: Any, key: tuple[Any, ...], build: Callable[[Basis], list[Any]]
    ) -> tuple[list[Any], str, Basis]:
        """A page of what ``build`` lists on the items of a plan or of an agency (the
        request names one), computed once per basis and ``key``."""
        check = Checker()
        one_of(check, request.plan_id, request.agency_id)
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        found = basis.cached(
            (*key, request.plan_id, request.agency_id),
            request.plan_id or None,
            lambda: build(basis),
        )
        chunk, token = pages.page(found, offset, size)
        return chunk, token, basis

    async def ListRedFlags(
        self, request: pb.ListRedFlagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRedFlagsResponse:
        plan, agency, cleared = request.plan_id, request.agency_id, request.include_cleared
        chunk, token, basis = await self.item_page(
            request,
            ("flags", cleared),
            lambda basis: self.red_flags(basis, plan, agency, include_cleared=cleared),
        )
        return pb.ListRedFlagsResponse(
            flags=chunk, next_page_token=token, answered_on=basis.message()
        )

    @staticmethod
    def missing_reports(basis: Basis, plan_id: str, agency_id: str) -> list[pb.MissingReport]:
        plans = {basis.plan(plan_id)["plan"]} if plan_id else None
        return [
            pb.MissingReport(
                subject=found["item"],
                plan_id=found["plan"],
                units=found["units"],
                period=found["period"],
                due=found["due"],
            )
            for found in missing_reports(
                basis.views, basis.day, plans=plans, agency=agency_id or None
            )
        ]

    async def ListMissingReports(
        self, request: pb.ListMissingReportsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMissingReportsResponse:
        plan, agency = request.plan_id, request.agency_id
        chunk, token, basis = await self.item_page(
            request, ("missing",), lambda basis: self.missing_reports(basis, plan, agency)
        )
        return pb.ListMissingReportsResponse(
            missing=chunk, next_page_token=token, answered_on=basis.message()
        )

    # Dependencies, scorecards, bottlenecks -------------------------------------------

    async def GetDependencies(
        self, request: pb.GetDependenciesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDependenciesResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        if not 0 <= request.window_days <= MAX_WINDOW_DAYS:
            message = f"must be within 0–{MAX_WINDOW_DAYS} days, not {request.window_days}"
            check.add("window_days", message, "WINDOW_OUT_OF_RANGE")
        basis = await self.reads.basis(check, request)
        as_of = basis.day
        row = graphs(basis.views["dependencies"], {request.plan_id}).get(request.plan_id)
        if row is None:
            raise NotFoundError(basis.missing(f"plan {request.plan_id}"), field="plan_id")
        window = request.window_days or DEFAULT_WINDOW_DAYS
        path = critical_path(row, as_of)
        return pb.GetDependenciesResponse(
            plan_id=request.plan_id,
            as_of=as_of.isoformat(),
            dependencies=[
                resources_pb2.Dependency(upstream_task=up, downstream_task=down)
                for up, down in row["dependencies"]
            ],
            agencies=[
                pb.AgencyDependencies(
                    agency_id=agency,
                    waits_on=[wait_message(w) for w in waits["waits_on"]],
                    waited_by=[wait_message(w) for w in waits["waited_by"]],
                )
                for agency, waits in row["agencies"].items()
            ],
            blocked=[
                pb.BlockedTask(downstream_task=b["downstream"], upstream_task=b["upstream"])
                for b in blocked(row, as_of, window)
            ],
            critical_path=pb.CriticalPath(
                tasks=path["tasks"],
                remaining_days=path["remaining_days"],
                finish=path["finish"] or "",
                due=path["due"] or "",
                slack_days=path["slack_days"],
                schedule=[pb.CriticalPath.Task(**entry) for entry in path["schedule"]],
            ),
            bottlenecks=[bottleneck_message(b) for b in bottlenecks([row], as_of)],
            answered_on=basis.message(),
        )

    async def ListScorecards(
        self, request: pb.ListScorecardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListScorecardsResponse:
        check = Checker()
        if request.plan_id and request.ward_id:
            for name in ("plan_id", "ward_id"):
                check.add(name, "give at most one of plan_id and ward_id", "ONE_OF_REQUIRED")
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        plan, ward = request.plan_id, request.ward_id

        def ranked() -> tuple[list[pb.Scorecard], list[pb.Scorecard]]:
            views = basis.views
            plans = {plan} if plan else ward_plans(views, ward) if ward else None
            units, collectives = standings(views, plans, basis.day)
            return (
                [scorecard_message(i + 1, card) for i, card in enumerate(units)],
                [scorecard_message(0, card) for card in collectives],
            )

        cards, apart = basis.cached(("scorecards", plan, ward), None, ranked)
        chunk, token = pages.page(cards, offset, size)
        return pb.ListScorecardsResponse(
            scorecards=chunk,
            next_page_token=token,
            answered_on=basis.message(),
            collective_cards=[] if offset else apart,
        )

    async def ListBottlenecks(
        self, request: pb.ListBottlenecksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBottlenecksResponse:
        check = Checker()
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        ward = request.ward_id

        def found() -> list[pb.Bottleneck]:
            plans = ward_plans(basis.views, ward) if ward else None
            rows = graphs(basis.views["dependencies"], plans).values()
            return [bottleneck_message(b) for b in bottlenecks(list(rows), basis.day)]

        chosen = basis.cached(("bottlenecks", ward), None, found)
        chunk, token = pages.page(chosen, offset, size)
        return pb.ListBottlenecksResponse(
            bottlenecks=chunk, next_page_token=token, answered_on=basis.message()
        )


def ward_plans(views: Views, ward_id: str) -> set[str]:
    return {key for key, row in views["plans"].items() if row["header"].get("ward_id") == ward_id}


def wait_message(wait: dict[str, str]) -> pb.WaitRelation:
    return pb.WaitRelation(
        agency_id=wait["agency"],
        task=wait["task"],
        on_agency_id=wait["on"],
        upstream_task=wait["upstream"],
        reason=wait["reason"],
    )
