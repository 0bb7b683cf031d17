"""AuditService: what was recorded, by whom and when; what was known at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import grpc
from lienthong.v1 import audit_service_pb2 as pb
from lienthong.v1 import audit_service_pb2_grpc

from services.api import pages
from services.api.convert import Checker, audit_message, from_timestamp, plan_status_message
from services.app import Lienthong
from services.audit import (
    AuditLog,
    Predicate,
    Record,
    about_plan,
    about_subject,
    by_agency,
    in_time,
)

POLL_SECONDS = 0.2
STREAM_BATCH = 200


def target(check: Checker, subject: str, plan_id: str, agency_id: str) -> Predicate:
    """The one filter a request names: a subject, a plan or an agency."""
    given = [
        name
        for name, value in (("subject", subject), ("plan_id", plan_id), ("agency_id", agency_id))
        if value
    ]
    if len(given) != 1:
        for name in ("subject", "plan_id", "agency_id"):
            check.add(name, "give exactly one of subject, plan_id and agency_id", "ONE_OF_REQUIRED")
        return lambda _: False
    if subject:
        check.subject("subject", subject)
        return about_subject(subject) if not check.violations else (lambda _: False)
    if plan_id:
        check.subject("plan_id", plan_id)
        return about_plan(plan_id) if not check.violations else (lambda _: False)
    return by_agency(agency_id)


async def follow(
    log: AuditLog, start: int, predicate: Predicate, *, stop_at_end: bool
) -> AsyncIterator[Record]:
    """Records from ``start`` on; then, unless ``stop_at_end``, new ones as they come."""
    position = max(start, 1)
    while True:
        page = await asyncio.to_thread(log.scan, position, predicate, STREAM_BATCH)
        for record in page.records:
            yield record
        position = page.next_position
        if page.at_end:
            if stop_at_end:
                return
            await asyncio.sleep(POLL_SECONDS)


class AuditServicer(audit_service_pb2_grpc.AuditServiceServicer):
    def __init__(self, app: Lienthong) -> None:
        self.app = app
        self.log = AuditLog(app)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        check = Checker()
        chosen = target(check, request.subject, request.plan_id, request.agency_id)
        size, start = (
            pages.page_size(check, request.page_size),
            pages.decode(check, request.page_token),
        )
        check.done()
        begin = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        page = await asyncio.to_thread(
            self.log.scan, start, lambda r: chosen(r) and in_time(r, begin, end), size
        )
        return pb.ListEventsResponse(
            events=[audit_message(r) for r in page.records],
            next_page_token="" if page.at_end else pages.encode(page.next_position),
        )

    async def StreamLog(
        self, request: pb.StreamLogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamLogResponse]:
        async for record in follow(
            self.log, request.from_position, lambda _: True, stop_at_end=request.stop_at_end
        ):
            yield pb.StreamLogResponse(event=audit_message(record))

    async def GetPlanStatusAsOf(
        self, request: pb.GetPlanStatusAsOfRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanStatusAsOfResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        if not request.HasField("known_at"):
            check.add("known_at", "is required", "FIELD_REQUIRED")
        as_of = check.date("as_of", request.as_of, required=False)
        check.done()
        known_at = from_timestamp(request.known_at)
        day = as_of or known_at.astimezone(dt.UTC).date()
        status = await asyncio.to_thread(self.app.plan_status, request.plan_id, day, known_at)
        return pb.GetPlanStatusAsOfResponse(status=plan_status_message(status))
