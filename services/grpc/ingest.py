"""IngestService: envelopes in, verdicts out. Every envelope ends on record, as
accepted or rejected — malformed ones included (keyed by their event id, or by the
digest of their bytes when even that is unusable)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable

import grpc
from lienthong.v1 import envelope_pb2, ingest_service_pb2, ingest_service_pb2_grpc

from projections.engine.live import LiveViews
from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, Refusal, Verdict, record_invalid, submit
from services.grpc.errors import RejectedError
from services.wire.convert import command_from_envelope, verdict_message
from services.wire.violations import RequestInvalidError

CHANNEL = "grpc"
Forward = Callable[[Command, bytes], Verdict]  # a command and its envelope's bytes → its verdict


def invalid_command(envelope: envelope_pb2.AgencyEventEnvelope) -> Command:
    """Enough of a malformed envelope to keep its refusal on record."""
    digest = hashlib.sha256(envelope.SerializeToString(deterministic=True)).hexdigest()
    try:
        event_id = str(uuid.UUID(envelope.event_id))
    except ValueError:
        event_id = f"sha256:{digest}"
    actor = Actor(agency=envelope.agency_id or "unknown", channel=CHANNEL, message_id=event_id)
    kind = envelope.WhichOneof("payload") or ""
    return Command(event_id, kind, envelope.subject, actor, digest=digest)


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    """Embedded mode applies envelopes directly; full mode hands them to ``forward``
    (to Kafka, waiting bounded for the ingest worker's verdict)."""

    def __init__(self, app: Ledger, forward: Forward | None, live: LiveViews) -> None:
        self.app = app
        self.forward = forward
        self.live = live

    async def verdict(self, envelope: envelope_pb2.AgencyEventEnvelope) -> Verdict:
        """Apply an envelope; answer once the views hold what it recorded (bounded), so
        the publisher reads its own write."""
        try:
            return await self.apply(envelope)
        finally:
            await self.live.settle()

    async def apply(self, envelope: envelope_pb2.AgencyEventEnvelope) -> Verdict:
        """Apply an envelope; a malformed one is recorded, then its problems raised."""
        try:
            command = command_from_envelope(envelope, CHANNEL)
        except RequestInvalidError as invalid:
            first = invalid.violations[0]
            refusal = Refusal("INVALID_REQUEST", "invalid", str(invalid), first.field)
            await asyncio.to_thread(record_invalid, self.app, invalid_command(envelope), refusal)
            raise
        if self.forward is not None:
            payload = envelope.SerializeToString()
            return await asyncio.to_thread(self.forward, command, payload)
        return await asyncio.to_thread(submit, self.app, command)

    async def Publish(
        self, request: ingest_service_pb2.PublishRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.PublishResponse:
        verdict = await self.verdict(request.envelope)
        if verdict.outcome == "rejected":
            raise RejectedError(verdict, verdict_message(verdict))
        return ingest_service_pb2.PublishResponse(verdict=verdict_message(verdict))

    async def PublishStream(
        self,
        request_iterator: AsyncIterator[ingest_service_pb2.PublishStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> ingest_service_pb2.PublishStreamResponse:
        verdicts = []
        async for request in request_iterator:
            try:
                verdict = await self.verdict(request.envelope)
            except RequestInvalidError as invalid:
                command = invalid_command(request.envelope)
                first = invalid.violations[0]
                verdict = Verdict(
                    command.event_id,
                    "rejected",
                    reason_code="INVALID_REQUEST",
                    message=str(invalid),
                    field=first.field,
                )
            verdicts.append(verdict_message(verdict))
        return ingest_service_pb2.PublishStreamResponse(verdicts=verdicts)
