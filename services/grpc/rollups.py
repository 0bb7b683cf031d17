"""PlanService's rollups: consolidated status per plan, ward or agency, indicators
that share a code across wards, and per-period summaries (see
:mod:`projections.rollups`), from the rows of the read's basis (the live views' or,
for a bitemporal read, the log's replayed: :mod:`services.grpc.reads`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from lienthong.v1 import plan_service_pb2 as pb

from domain.errors import NotFoundError
from projections import rollups
from projections.engine.rows import Row
from services.grpc import pages
from services.grpc.reads import Reads
from services.wire.convert import Checker

Rollup = Callable[[list[rollups.TaskReading], dict[str, Row]], dict[str, dict[str, Any]]]


def rollup_message(group: str, summary: dict[str, Any]) -> pb.Rollup:
    return pb.Rollup(group=group, **summary)


def period_message(kind: str, summary: dict[str, Any]) -> pb.PeriodSummary:
    return pb.PeriodSummary(
        period_kind=kind,
        period=summary["period"],
        first_day=summary["from"],
        last_day=summary["to"],
        complete=summary["complete"],
        status_at_end=summary["status_at_end"],
        completed_in_period=summary["completed_in_period"],
        flags_raised=summary["flags_raised"],
        flags_open_at_end=summary["flags_open_at_end"],
    )


ROLLUPS: dict[int, Rollup] = {
    pb.ROLLUP_BY_PLAN: lambda readings, _flags: rollups.by_plan(readings),
    pb.ROLLUP_BY_WARD: rollups.by_ward,
    pb.ROLLUP_BY_AGENCY: lambda readings, _flags: rollups.by_agency(readings),
}


class RollupQueries:
    """The consolidated rollups (see :mod:`projections.rollups`), mixed into the servicer."""

    reads: Reads

    async def ListRollups(
        self, request: pb.ListRollupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRollupsResponse:
        check = Checker()
        if request.by not in ROLLUPS:
            check.add("by", "must be ROLLUP_BY_PLAN, ROLLUP_BY_WARD or ROLLUP_BY_AGENCY")
        size, offset = pages.paging(check, request)
        basis = await self.reads.basis(check, request)
        by = request.by

        def rolled() -> list[pb.Rollup]:
            flags = basis.views["red_flags"]
            readings = rollups.read_tasks(basis.views["task_status"], flags, basis.day)
            return [rollup_message(g, s) for g, s in ROLLUPS[by](readings, flags).items()]

        found = basis.cached(("rollups", by), None, rolled)
        chunk, token = pages.page(found, offset, size)
        return pb.ListRollupsResponse(
            rollups=chunk, next_page_token=token, answered_on=basis.message()
        )

    async def ListIndicatorRollups(
        self, request: pb.ListIndicatorRollupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIndicatorRollupsResponse:
        check = Checker()
        if request.year:
            check.year("year", request.year)
        basis = await self.reads.basis(check, request)
        year = request.year or str(basis.day.year)
        views = basis.views
        rolled = rollups.indicators_by_code(views["kpi_attainment"], views["red_flags"], year)
        return pb.ListIndicatorRollupsResponse(
            rollups=[
                pb.IndicatorRollup(
                    code=code,
                    indicators=[
                        pb.IndicatorReading(**{k: v or "" for k, v in m.items()})
                        for m in found["indicators"]
                    ],
                    wards=found["wards"],
                    reporting=found["reporting"],
                    met=found["met"],
                    min=found["min"] or "",
                    max=found["max"] or "",
                    mean=found["mean"] or "",
                )
                for code, found in rolled.items()
                if not request.code or code == request.code
            ],
            answered_on=basis.message(),
        )

    async def ListPeriodSummaries(
        self, request: pb.ListPeriodSummariesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPeriodSummariesResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        if request.year:
            check.year("year", str(request.year))
        kind = request.period_kind
        if kind and kind not in rollups.PERIOD_KINDS:
            check.add("period_kind", f"must be one of {', '.join(rollups.PERIOD_KINDS)}")
        basis = await self.reads.basis(check, request)
        as_of, flags = basis.day, basis.views["red_flags"]
        if request.plan_id not in flags:
            raise NotFoundError(basis.missing(f"plan {request.plan_id}"), field="plan_id")
        year = request.year or as_of.year
        if kind:
            found = {kind: rollups.period_summaries(flags, request.plan_id, kind, year, as_of)}
        else:
            found = rollups.reporting_summaries(flags, request.plan_id, year, as_of)
        return pb.ListPeriodSummariesResponse(
            summaries=[period_message(k, s) for k, summaries in found.items() for s in summaries],
            answered_on=basis.message(),
        )
