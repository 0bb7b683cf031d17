"""IngestService: envelopes in, verdicts out. Every envelope ends on record, as
accepted or rejected — malformed ones included (keyed by their event id, or by the
digest of their bytes when even that is unusable; see :mod:`services.wire.envelopes`).

Who sends it: a caller authenticated by its certificate (:func:`current_caller`) may
only send in its own name — another agency's envelope is refused as
``AGENCY_NOT_CALLER`` (recorded, keyed unverified). Embedded mode then verifies the
envelope's signature (:func:`~services.wire.envelopes.verified`); full mode leaves
that to the ingest worker, which verifies every record whichever channel brought it.

Every verdict is logged with the submission's event id and subject; those decided
here (all in embedded mode, the refusals before Kafka in full mode) are counted in
``lienthong_submissions_total`` (:mod:`services.metrics`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import grpc
from lienthong.v1 import envelope_pb2, ingest_service_pb2, ingest_service_pb2_grpc

from domain.keys import AgencyNotCallerError
from projections.engine.live import LiveViews
from services.app.identity import Identity, TrustAnchors
from services.app.ledger import Ledger
from services.app.submissions import Command, Verdict, record_invalid, submit
from services.grpc.callers import current_caller
from services.grpc.errors import RejectedError
from services.logs import log_verdict
from services.metrics import count_verdict
from services.wire.convert import verdict_message
from services.wire.envelopes import Received, receive, refused, verified

CHANNEL = "grpc"
Forward = Callable[[Command, bytes], Verdict]  # a command and its envelope's bytes → its verdict
# Full mode's forward, made once the server's live views are there (they tell it when
# the log moved: a verdict recorded elsewhere is then looked for).
Forwarding = Callable[[LiveViews], Forward]
log = logging.getLogger(__name__)


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    """Embedded mode applies envelopes directly; full mode hands them to ``forward``
    (to Kafka, waiting bounded for the ingest worker's verdict)."""

    def __init__(
        self,
        app: Ledger,
        forward: Forward | None,
        live: LiveViews,
        anchors: TrustAnchors | None = None,
    ) -> None:
        self.app = app
        self.forward = forward
        self.live = live
        # None: the configured ones, loaded when first needed
        self._anchors = anchors

    @property
    def anchors(self) -> TrustAnchors:
        if self._anchors is None:
            self._anchors = TrustAnchors.load()
        return self._anchors

    def received(self, envelope: envelope_pb2.AgencyEventEnvelope) -> Received:
        """The envelope read, checked against its caller and (embedded mode) verified."""
        received = receive(envelope, CHANNEL, origin=CHANNEL)
        if received.refusal is not None:
            return received
        caller = current_caller()
        agency = received.command.actor.agency
        if caller is not None and caller.name != agency:
            return refused(received, not_caller(caller, agency, "envelope.agency_id"))
        if self.forward is not None:
            return received  # the ingest worker verifies it
        return verified(self.app, received, self.anchors, self.app.clock())

    async def verdict(self, envelope: envelope_pb2.AgencyEventEnvelope) -> tuple[Received, Verdict]:
        """Apply an envelope, a malformed one too (its refusal recorded); answer once
        the views hold what it recorded (bounded), so the publisher reads its own write.
        With the database away (the views' follower says so) it is refused at once
        (``STORE_UNAVAILABLE``) rather than after the pool's timeouts: both modes look
        in the store first (full mode for a verdict already known)."""
        self.live.require_store()
        received = await asyncio.to_thread(self.received, envelope)
        try:
            verdict = await self.apply(envelope, received)
        finally:
            await self.live.settle()
        if self.forward is None or received.refusal is not None:
            count_verdict(verdict.outcome, verdict.reason_code)
        log_verdict(
            log, verdict.event_id, received.command.subject, verdict.outcome, verdict.reason_code
        )
        return received, verdict

    async def apply(
        self, envelope: envelope_pb2.AgencyEventEnvelope, received: Received
    ) -> Verdict:
        if received.refusal is not None:
            return await asyncio.to_thread(
                record_invalid, self.app, received.command, received.refusal
            )
        if self.forward is not None:
            payload = envelope.SerializeToString()
            return await asyncio.to_thread(self.forward, received.command, payload)
        return await asyncio.to_thread(submit, self.app, received.command)

    async def Publish(
        self, request: ingest_service_pb2.PublishRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.PublishResponse:
        received, verdict = await self.verdict(request.envelope)
        if received.invalid is not None:  # recorded; the caller hears of every field
            raise received.invalid
        if received.refusal is not None and verdict.outcome != "rejected":
            verdict = received.rejected()  # the refusal again, not its "duplicate"
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
            received, verdict = await self.verdict(request.envelope)
            if received.refusal is not None and verdict.outcome != "rejected":
                verdict = received.rejected()
            verdicts.append(verdict_message(verdict))
        return ingest_service_pb2.PublishStreamResponse(verdicts=verdicts)


def not_caller(caller: Identity, agency: str, field: str) -> AgencyNotCallerError:
    """The refusal of a message ``caller`` sent in ``agency``'s name."""
    msg = f"the caller is {caller.name} ({caller.role.value}); it cannot send as {agency!r}"
    return AgencyNotCallerError(msg, field=field)
