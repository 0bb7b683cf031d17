"""ReportService: a plan's periodic report as a file (XLSX or PDF), built by
:mod:`services.reports` on the views replayed from the log up to the position
recorded by the request's ``known_at`` (default: the position the live views reached)
and as of the report's day — the replays PlanService's bitemporal reads share
(:class:`services.grpc.reads.Reads`). What was rendered is kept with the replay, so
the same request again answers the same bytes without rendering them again."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
from lienthong.v1 import reports_pb2 as pb
from lienthong.v1 import reports_pb2_grpc

from domain.clock import ward_day
from domain.errors import DomainError, NotFoundError
from domain.reporting import Period
from projections.engine.rows import Views
from services.app.clock import utc_now, ward_today
from services.grpc.reads import Reads
from services.reports import render
from services.reports.gather import report_from
from services.reports.model import Report
from services.reports.periods import FORMATS, check_format, parse_period, report_day
from services.wire.convert import Checker, from_timestamp


def checked_request(
    check: Checker, request: pb.GetReportRequest
) -> tuple[Period | None, str, dt.datetime | None]:
    """The request's period, format and known-at moment, each checked into ``check``."""
    check.plan("plan_id", request.plan_id)
    period = None
    if check.required("period", request.period):
        try:
            period = parse_period(request.period)
        except DomainError as error:
            check.add("period", error.message, error.code)
    if check.required("format", request.format):
        try:
            check_format(request.format)
        except DomainError as error:
            check.add("format", error.message, error.code)
    known_at = None
    if request.HasField("known_at"):
        known_at, now = from_timestamp(request.known_at), utc_now()
        if known_at > now:
            message = f"{known_at.isoformat()} is after the server's clock ({now.isoformat()})"
            check.add("known_at", message, "KNOWN_AT_IN_FUTURE")
    return period, request.format, known_at


class ReportServicer(reports_pb2_grpc.ReportServiceServicer):
    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    async def GetReport(
        self, request: pb.GetReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetReportResponse:
        check = Checker()
        period, fmt, known_at = checked_request(check, request)
        check.done()
        assert period is not None  # noqa: S101 - checked above
        today = ward_day(known_at) if known_at is not None else ward_today()
        try:
            day = report_day(period, today)
        except DomainError as error:
            check.add("period", error.message, error.code)
            check.done()
            raise
        live = self.reads.live
        position = live.position
        if known_at is not None:
            position = min(await asyncio.to_thread(self.reads.recorded_by, known_at), position)
        replayed = await self.reads.replayed(position, day)
        if request.plan_id not in replayed.views["plans"]:
            what = f"plan {request.plan_id}"
            found = f"was not recorded by {known_at.isoformat()}" if known_at else "was not found"
            raise NotFoundError(f"{what} {found} (log position {position})", field="plan_id")
        key = ("report", request.plan_id, period.label, fmt, known_at)
        made = replayed.results.get(key)
        if made is None:
            made = replayed.results[key] = await asyncio.to_thread(
                self.make, replayed.views, request.plan_id, period, (day, position, known_at), fmt
            )
        report, content = made
        kept = report.checkpoint
        return pb.GetReportResponse(
            filename=report.filename(fmt),
            media_type=FORMATS[fmt],
            content=content,
            plan_id=request.plan_id,
            period=period.label,
            as_of=report.as_of.isoformat(),
            position=report.position,
            checkpoint=pb.ReportCheckpoint(tree_size=kept.size, root_hash=kept.root)
            if kept
            else None,
        )

    def make(
        self,
        views: Views,
        plan: str,
        period: Period,
        basis: tuple[dt.date, int, dt.datetime | None],
        fmt: str,
    ) -> tuple[Report, bytes]:
        day, position, known_at = basis
        report = report_from(self.reads.live.app, views, plan, period, day, position, known_at)
        return report, render(report, fmt)
