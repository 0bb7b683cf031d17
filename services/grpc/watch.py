"""WatchService: the events touching a plan or an agency, live; or, with ``view``
set, the rows of that view that change for the plan or agency, as the live views
commit them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import struct_pb2
from lienthong.v1 import watch_service_pb2 as pb
from lienthong.v1 import watch_service_pb2_grpc

from domain.errors import NotFoundError
from domain.ids import plan_id
from domain.text import quote
from projections.engine.audit_log import AuditLog
from projections.engine.live import LiveViews
from projections.engine.rows import Changes, Row, json_safe
from projections.plans import plan_of
from services.app.ledger import Ledger
from services.grpc.audit import follow, target
from services.wire.convert import Checker, audit_message


def mentions(row: Row, agency: str) -> bool:
    """Whether a row of any view concerns ``agency``."""
    listed = (*row.get("lead", ()), *row.get("coordinating", ()), *row.get("monitor", ()))
    return (
        agency in listed
        or row.get("agency") == agency
        or agency in row.get("agencies", {})
        or row.get("header", {}).get("coordinator") == agency
    )


def change_message(view: str, key: str, row: Row | None, position: int) -> pb.WatchChangesResponse:
    change = pb.ViewChange(view=view, key=key, removed=row is None, position=position)
    if row is not None:
        data = struct_pb2.Struct()
        data.update(json_safe(row))
        change.row.CopyFrom(data)
    return pb.WatchChangesResponse(change=change)


class RowFilter:
    """The rows of one view a watcher asked for; a removed row is sent to whoever had it."""

    def __init__(self, view: str, plan_id: str, agency_id: str) -> None:
        self.view, self.plan_id, self.agency_id = view, plan_id, agency_id
        self.sent: set[str] = set()

    def wanted(self, key: str, row: Row | None) -> bool:
        if self.plan_id:
            return plan_of(key) == self.plan_id
        if row is None:
            return key in self.sent
        if mentions(row, self.agency_id):
            self.sent.add(key)
            return True
        return key in self.sent


class WatchServicer(watch_service_pb2_grpc.WatchServiceServicer):
    def __init__(self, app: Ledger, live: LiveViews) -> None:
        self.app = app
        self.log = AuditLog(app)
        self.live = live

    async def WatchChanges(
        self, request: pb.WatchChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchChangesResponse]:
        check = Checker()
        chosen = target(check, "", request.plan_id, request.agency_id)
        check.position("from_position", request.from_position)
        watchable = sorted(n for n, f in self.live.followed.items() if f.in_memory)
        if request.view and request.view not in watchable:
            check.add("view", f"{quote(request.view)} is not one of {', '.join(watchable)}")
        check.done()
        if request.plan_id:
            await self.known(request.plan_id)
        if request.view:
            async for change in self.changes(request):
                yield change
            return
        start = request.from_position or await asyncio.to_thread(self.log.last_position) + 1
        async for record in follow(self.log, start, chosen, stop_at_end=False):
            yield pb.WatchChangesResponse(event=audit_message(record))

    async def known(self, plan: str) -> None:
        """A watch on a plan that does not exist is refused, not left open and silent."""
        if not await asyncio.to_thread(self.app.exists, plan_id(plan)):
            raise NotFoundError(f"plan {plan} was not found", field="plan_id")

    async def changes(self, request: pb.WatchChangesRequest) -> AsyncIterator[Any]:
        rows = RowFilter(request.view, request.plan_id, request.agency_id)
        queue: asyncio.Queue[pb.WatchChangesResponse] = asyncio.Queue()

        def changed(changes: Changes, position: int) -> None:
            for key, row in changes.get(request.view, {}).items():
                if rows.wanted(key, row):
                    queue.put_nowait(change_message(request.view, key, row, position))

        if request.initial_rows:
            current = dict(sorted(self.live.rows(request.view).items()))
            changed({request.view: dict(current)}, self.live.position)
        self.live.subscribers.add(changed)
        try:
            while True:
                yield await queue.get()
        finally:
            self.live.subscribers.discard(changed)
