"""AuditService: what was recorded, by whom and when; what was known at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
from lienthong.v1 import audit_service_pb2 as pb
from lienthong.v1 import audit_service_pb2_grpc

from domain.clock import ward_day
from domain.errors import InvalidValueError, NotFoundError
from domain.ids import parse_ref
from domain.merkle import ProofError
from projections.engine.audit_log import (
    AuditLog,
    Predicate,
    Record,
    about_plan,
    about_subject,
    by_agency,
)
from services.app import inspection
from services.app.audit import key_file, load_signer, log_tree
from services.app.checkpointer import LogLimits, log_status
from services.app.ledger import Ledger
from services.app.notes import split_note
from services.app.witness import add_cosignatures, cosigned, witness_keys
from services.grpc import pages
from services.wire.convert import (
    Checker,
    audit_message,
    correction_message,
    from_timestamp,
    plan_status_message,
    timestamp,
)

POLL_SECONDS = 0.2
STREAM_BATCH = 200


def target(check: Checker, subject: str, plan_id: str, agency_id: str) -> Predicate:
    """The one filter a request names: a subject, a plan or an agency."""
    if not check.one_of(subject=subject, plan_id=plan_id, agency_id=agency_id):
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


def plan_or_agency(check: Checker, plan_id: str, agency_id: str) -> tuple[str, str]:
    """The one of plan_id and agency_id a request names, as (field, value)."""
    field = check.one_of(plan_id=plan_id, agency_id=agency_id)
    if field == "plan_id":
        check.plan(field, plan_id)
    return field, plan_id or agency_id


def required_time(check: Checker, request: Any, field: str) -> dt.datetime:
    """The time in the request's required ``field``."""
    if not request.HasField(field):
        check.add(field, "is required", "FIELD_REQUIRED")
    return from_timestamp(getattr(request, field))


class AuditServicer(audit_service_pb2_grpc.AuditServiceServicer):
    """ListEvents and ListCorrections read the audit trail view's table (indexed by
    subject, plan, actor and recorded-at; late reports and corrections by plan and actor);
    GetPlanStatusAsOf replays the views up to the time asked; GetInspection answers
    from both and the kept checkpoints (services.app.inspection); the checkpoint and
    proofs come from the log's Merkle tree (services.store.tlog)."""

    def __init__(self, app: Ledger) -> None:
        self.app = app
        self.log = AuditLog(app)
        self.tree = log_tree(app.recorder)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        check = Checker()
        target(check, request.subject, request.plan_id, request.agency_id)
        size, after = (
            pages.page_size(check, request.page_size),
            pages.decode(check, request.page_token),
        )
        check.done()
        field, value = next(
            (name, value)
            for name, value in (
                ("subject", request.subject and str(parse_ref(request.subject))),
                ("plan_id", request.plan_id),
                ("agency_id", request.agency_id),
            )
            if value
        )
        begin = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        records, more = await asyncio.to_thread(
            inspection.events,
            self.app,
            field,
            value,
            after,
            (begin, end),
            size,
            late_only=request.late_only,
        )
        return pb.ListEventsResponse(
            events=[audit_message(r) for r in records],
            next_page_token=pages.encode(records[-1]["position"]) if more else "",
        )

    async def StreamLog(
        self, request: pb.StreamLogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamLogResponse]:
        check = Checker()
        check.position("from_position", request.from_position)
        check.done()
        async for record in follow(
            self.log, request.from_position, lambda _: True, stop_at_end=request.stop_at_end
        ):
            yield pb.StreamLogResponse(event=audit_message(record))

    async def GetPlanStatusAsOf(
        self, request: pb.GetPlanStatusAsOfRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanStatusAsOfResponse:
        check = Checker()
        check.required("plan_id", request.plan_id)
        known_at = required_time(check, request, "known_at")
        as_of = check.date("as_of", request.as_of, required=False)
        check.done()
        day = as_of or ward_day(known_at)
        status = await asyncio.to_thread(
            inspection.status_known_at, self.app, request.plan_id, day, known_at
        )
        return pb.GetPlanStatusAsOfResponse(status=plan_status_message(status))

    async def ListCorrections(
        self, request: pb.ListCorrectionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCorrectionsResponse:
        check = Checker()
        field, value = plan_or_agency(check, request.plan_id, request.agency_id)
        after_time = required_time(check, request, "recorded_after")
        size, after = (
            pages.page_size(check, request.page_size),
            pages.decode(check, request.page_token),
        )
        check.done()
        begin = after_time + inspection.INSTANT
        end = (
            from_timestamp(request.recorded_before) if request.HasField("recorded_before") else None
        )
        found, more = await asyncio.to_thread(
            inspection.corrections_after, self.app, field, value, after, (begin, end), size
        )
        return pb.ListCorrectionsResponse(
            corrections=[correction_message(c) for c in found],
            next_page_token=pages.encode(found[-1]["position"]) if more else "",
        )

    async def GetInspection(
        self, request: pb.GetInspectionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInspectionResponse:
        check = Checker()
        check.plan("plan_id", request.plan_id)
        day = check.date("as_of", request.as_of)
        known_at = required_time(check, request, "known_at")
        check.done()
        found = await asyncio.to_thread(
            inspection.inspect, self.app, request.plan_id, cast("dt.date", day), known_at
        )
        kept = found.coverage.checkpoint
        return pb.GetInspectionResponse(
            status=plan_status_message(found.status),
            corrections_after=[correction_message(c) for c in found.corrections_after],
            late_reports=[audit_message(r) for r in found.late_reports],
            leaves_known=found.coverage.leaves,
            covered=kept is not None,
            checkpoint_note=kept.note if kept else "",
            checkpoint_tree_size=kept.size if kept else 0,
            checkpoint_made_at=timestamp(kept.made_at) if kept else None,
        )

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCheckpointResponse:
        kept = await asyncio.to_thread(self.tree.latest_checkpoint)
        if kept is None:
            raise NotFoundError("no checkpoint has been made yet (lienthong audit checkpoint)")
        note = await asyncio.to_thread(cosigned, self.tree, kept)
        return pb.GetCheckpointResponse(
            note=note,
            tree_size=kept.size,
            root_hash=kept.root,
            made_at=timestamp(kept.made_at),
        )

    def inclusion(self, position: int, size: int) -> pb.GetInclusionProofResponse:
        try:
            leaf = self.tree.leaf_at(position)
        except ProofError as error:
            raise NotFoundError(str(error), field="position") from None
        try:
            hashes, head = self.tree.inclusion(leaf.index, size), self.tree.root(size)
        except ProofError as error:
            raise InvalidValueError(str(error), field="tree_size") from None
        return pb.GetInclusionProofResponse(
            leaf_index=leaf.index,
            tree_size=size,
            leaf=self.tree.record(position),
            leaf_hash=leaf.hash,
            hashes=hashes,
            root_hash=head,
        )

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInclusionProofResponse:
        return await asyncio.to_thread(self.inclusion, request.position, request.tree_size)

    def consistency(self, old: int, new: int) -> pb.GetConsistencyProofResponse:
        try:
            hashes = self.tree.consistency(old, new)
            roots = self.tree.root(old), self.tree.root(new)
        except ProofError as error:
            field = "to_tree_size" if 0 <= old <= new else "from_tree_size"
            raise InvalidValueError(str(error), field=field) from None
        return pb.GetConsistencyProofResponse(
            hashes=hashes, from_root_hash=roots[0], to_root_hash=roots[1]
        )

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetConsistencyProofResponse:
        return await asyncio.to_thread(
            self.consistency, request.from_tree_size, request.to_tree_size
        )

    async def GetLogStatus(
        self, request: pb.GetLogStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLogStatusResponse:
        status = await asyncio.to_thread(log_status, self.tree)
        answer = pb.GetLogStatusResponse(
            tree_size=status.tree_size,
            records_stored=status.stored,
            lag=status.lag,
            healthy=status.healthy(LogLimits.from_env()),
        )
        if status.checkpoint is not None and status.age_seconds is not None:
            answer.checkpoint_tree_size = status.checkpoint.size
            answer.checkpoint_made_at.CopyFrom(timestamp(status.checkpoint.made_at))
            answer.checkpoint_age_seconds = status.age_seconds
        return answer

    def cosign(self, note: str) -> pb.AddCosignatureResponse:
        log_key = load_signer(key_file()).verifier()
        kept = add_cosignatures(self.tree, note, log_key, witness_keys())
        names = [
            name
            for name, number, _ in split_note(note)[1]
            if (name, number) != (log_key.name, log_key.hash)
        ]
        return pb.AddCosignatureResponse(note=cosigned(self.tree, kept), witnesses=names)

    async def AddCosignature(
        self, request: pb.AddCosignatureRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddCosignatureResponse:
        check = Checker()
        check.required("note", request.note)
        check.done()
        return await asyncio.to_thread(self.cosign, request.note)
