"""WatchService: the events touching a plan or an agency, live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from lienthong.v1 import watch_service_pb2 as pb
from lienthong.v1 import watch_service_pb2_grpc

from services.api.audit import follow, target
from services.api.convert import Checker, audit_message
from services.app import Lienthong
from services.audit import AuditLog


class WatchServicer(watch_service_pb2_grpc.WatchServiceServicer):
    def __init__(self, app: Lienthong) -> None:
        self.log = AuditLog(app)

    async def WatchChanges(
        self, request: pb.WatchChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchChangesResponse]:
        check = Checker()
        chosen = target(check, "", request.plan_id, request.agency_id)
        check.done()
        start = request.from_position or await asyncio.to_thread(self.log.last_position) + 1
        async for record in follow(self.log, start, chosen, stop_at_end=False):
            yield pb.WatchChangesResponse(event=audit_message(record))
