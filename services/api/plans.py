"""PlanService: plans, tasks, indicators and the consolidated status."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from lienthong.v1 import plan_service_pb2 as pb
from lienthong.v1 import plan_service_pb2_grpc

from domain.flags import red_flags
from domain.ids import parse_ref
from services.api import pages
from services.api.convert import (
    Checker,
    indicator_message,
    plan_message,
    plan_status_message,
    status_from_message,
    task_message,
)
from services.app import Lienthong

T = TypeVar("T")


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class PlanServicer(plan_service_pb2_grpc.PlanServiceServicer):
    def __init__(self, app: Lienthong) -> None:
        self.app = app

    async def run(self, query: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(query, *args)

    # Plans -----------------------------------------------------------------------

    def list_plans(self, ward_id: str, offset: int, size: int) -> pb.ListPlansResponse:
        plans = [self.plan(key) for key in self.app.plan_keys()]
        chosen = [p for p in plans if not ward_id or p.ward_id == ward_id]
        chunk, token = pages.page(chosen, offset, size)
        return pb.ListPlansResponse(plans=chunk, next_page_token=token)

    def plan(self, key: str) -> Any:
        return plan_message(self.app.plan_summary(key), self.app.plan(key).header)

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPlansResponse:
        check = Checker()
        size, offset = (
            pages.page_size(check, request.page_size),
            pages.decode(check, request.page_token),
        )
        check.done()
        return await self.run(self.list_plans, request.ward_id, offset, size)

    async def GetPlan(
        self, request: pb.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        check.done()
        return pb.GetPlanResponse(plan=await self.run(self.plan, request.plan_id))

    # Tasks -----------------------------------------------------------------------

    def list_tasks(
        self, request: pb.ListTasksRequest, as_of: dt.date, offset: int, size: int
    ) -> pb.ListTasksResponse:
        plan = self.app.plan(request.plan_id)
        start = self.app.plan_start(plan)
        wanted_status = status_from_message(request.status)
        due_before = dt.date.fromisoformat(request.due_before) if request.due_before else None
        messages = []
        for task in self.app.tasks_of(request.plan_id):
            flags = red_flags(task, start, as_of)
            if request.agency_id and request.agency_id not in task.participants:
                continue
            if wanted_status is not None and task.status is not wanted_status:
                continue
            if request.red_flag and not flags:
                continue
            if due_before and not (task.deadline.due and task.deadline.due < due_before):
                continue
            messages.append(task_message(task, flags))
        chunk, token = pages.page(messages, offset, size)
        return pb.ListTasksResponse(tasks=chunk, next_page_token=token)

    async def ListTasks(
        self, request: pb.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTasksResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        as_of = check.date("as_of", request.as_of, required=False) or today()
        check.date("due_before", request.due_before, required=False)
        size, offset = (
            pages.page_size(check, request.page_size),
            pages.decode(check, request.page_token),
        )
        check.done()
        return await self.run(self.list_tasks, request, as_of, offset, size)

    def task(self, name: str, as_of: dt.date) -> Any:
        task = self.app.item(name)
        plan = self.app.plan(task.plan)
        return task_message(task, red_flags(task, self.app.plan_start(plan), as_of))  # type: ignore[arg-type]

    async def GetTask(
        self, request: pb.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTaskResponse:
        check = Checker()
        check.subject("name", request.name)
        as_of = check.date("as_of", request.as_of, required=False) or today()
        check.done()
        if parse_ref(request.name).kind.value != "task":
            check.add("name", "must name a task: PLAN/task/KEY")
            check.done()
        return pb.GetTaskResponse(task=await self.run(self.task, request.name, as_of))

    # Indicators ------------------------------------------------------------------

    def list_indicators(
        self, request: pb.ListIndicatorsRequest, offset: int, size: int
    ) -> pb.ListIndicatorsResponse:
        wanted_status = status_from_message(request.status)
        chosen = [
            indicator_message(i)
            for i in self.app.indicators_of(request.plan_id)
            if (not request.agency_id or request.agency_id in i.participants)
            and (wanted_status is None or i.status is wanted_status)
        ]
        chunk, token = pages.page(chosen, offset, size)
        return pb.ListIndicatorsResponse(indicators=chunk, next_page_token=token)

    async def ListIndicators(
        self, request: pb.ListIndicatorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIndicatorsResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        size, offset = (
            pages.page_size(check, request.page_size),
            pages.decode(check, request.page_token),
        )
        check.done()
        return await self.run(self.list_indicators, request, offset, size)

    async def GetIndicator(
        self, request: pb.GetIndicatorRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIndicatorResponse:
        check = Checker()
        check.subject("name", request.name)
        check.done()
        if parse_ref(request.name).kind.value != "indicator":
            check.add("name", "must name an indicator: PLAN/indicator/NUMBER")
            check.done()
        indicator = await self.run(self.app.item, request.name)
        return pb.GetIndicatorResponse(indicator=indicator_message(indicator))  # type: ignore[arg-type]

    # Status ----------------------------------------------------------------------

    async def GetPlanStatus(
        self, request: pb.GetPlanStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanStatusResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        as_of = check.date("as_of", request.as_of, required=False) or today()
        check.done()
        status = await self.run(self.app.plan_status, request.plan_id, as_of)
        return pb.GetPlanStatusResponse(status=plan_status_message(status))
