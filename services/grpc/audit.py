"""AuditService: what was recorded, by whom and when; what was known at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import grpc
from lienthong.v1 import audit_service_pb2 as pb
from lienthong.v1 import audit_service_pb2_grpc
from psycopg import sql

from domain.clock import ward_day
from domain.errors import InvalidValueError, NotFoundError
from domain.ids import parse_ref
from domain.merkle import ProofError
from projections.audit_trail import key_of
from projections.engine.audit_log import (
    AuditLog,
    Predicate,
    Record,
    about_plan,
    about_subject,
    by_agency,
)
from projections.engine.known_at import rows_known_at
from projections.plans import plan_status
from projections.views import VIEWS
from services.app.audit import key_file, load_signer, log_tree
from services.app.checkpointer import LogLimits, log_status
from services.app.ledger import Ledger
from services.app.notes import split_note
from services.app.witness import add_cosignatures, cosigned, witness_keys
from services.grpc import pages
from services.wire.convert import (
    Checker,
    audit_message,
    from_timestamp,
    plan_status_message,
    timestamp,
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


EVENTS = sql.SQL(
    "SELECT key, data FROM view_audit_trail.rows WHERE {} = %(value)s AND key > %(after)s"
    " AND (%(begin)s::text IS NULL OR data->>'recorded_at' >= %(begin)s)"
    " AND (%(end)s::text IS NULL OR data->>'recorded_at' < %(end)s)"
    " ORDER BY key LIMIT %(limit)s"
)
# the expressions the audit trail's table is indexed on (projections.engine.live.AUDIT_INDEXES)
WHERE = {
    "subject": sql.SQL("data->>'subject'"),
    "plan_id": sql.SQL("split_part(data->>'subject', '/', 1)"),
    "agency_id": sql.SQL("data->>'actor'"),
}


def record_of(row: Record) -> Record:
    """An audit trail row as :func:`~services.wire.convert.audit_message` takes it."""
    return {
        **row,
        "occurred_at": dt.datetime.fromisoformat(row["occurred_at"]),
        "recorded_at": dt.datetime.fromisoformat(row["recorded_at"]),
    }


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


class AuditServicer(audit_service_pb2_grpc.AuditServiceServicer):
    """ListEvents reads the audit trail view's table (indexed by subject, plan, actor
    and recorded-at); GetPlanStatusAsOf replays the views up to the time asked; the
    checkpoint and proofs come from the log's Merkle tree (services.store.tlog)."""

    def __init__(self, app: Ledger) -> None:
        self.app = app
        self.log = AuditLog(app)
        self.tree = log_tree(app.recorder)

    def events(
        self, field: str, value: str, after: int, window: tuple[str | None, str | None], size: int
    ) -> tuple[list[Record], bool]:
        """Rows of the audit trail matching, after position ``after``; and whether more."""
        params = {
            "value": value,
            "after": key_of(after),
            "begin": window[0],
            "end": window[1],
            "limit": size + 1,
        }
        with self.app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(EVENTS.format(WHERE[field]), params)
            rows = [record_of(row["data"]) for row in cursor.fetchall()]
        return rows[:size], len(rows) > size

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
            self.events, field, value, after, (iso(begin), iso(end)), size
        )
        return pb.ListEventsResponse(
            events=[audit_message(r) for r in records],
            next_page_token=pages.encode(records[-1]["position"]) if more else "",
        )

    async def StreamLog(
        self, request: pb.StreamLogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamLogResponse]:
        async for record in follow(
            self.log, request.from_position, lambda _: True, stop_at_end=request.stop_at_end
        ):
            yield pb.StreamLogResponse(event=audit_message(record))

    def status_known_at(self, plan: str, day: dt.date, known_at: dt.datetime) -> dict[str, Any]:
        names = ("plans", "task_status", "kpi_attainment")
        views = rows_known_at(self.app, {name: VIEWS[name] for name in names}, known_at, as_of=day)
        if plan not in views["plans"]:
            raise NotFoundError(f"plan {plan} was not recorded by then", field="plan_id")
        with self.app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                "SELECT max(key) AS last FROM view_audit_trail.rows"
                " WHERE split_part(data->>'subject', '/', 1) = %s AND data->>'recorded_at' <= %s",
                (plan, iso(known_at)),
            )
            found = cursor.fetchone()
        position = int(found["last"]) if found and found["last"] else 0
        return plan_status(views, plan, day, position)

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
        day = as_of or ward_day(known_at)
        status = await asyncio.to_thread(self.status_known_at, request.plan_id, day, known_at)
        return pb.GetPlanStatusAsOfResponse(status=plan_status_message(status))

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
