"""ReviewService: the coordination office's writes, each idempotent on request_id.

Every request is signed by a registered key of its reviewer (``reviewer.agency_id``),
checked as an envelope's signature is (:func:`services.app.identity.check_signed`),
and a caller authenticated by its certificate may only review in its own name
(``AGENCY_NOT_CALLER``). A refusal of either is recorded, keyed unverified (see
:mod:`services.app.submissions`); an accepted review keeps its signature in its receipt."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from lienthong.v1 import envelope_pb2, review_service_pb2_grpc
from lienthong.v1 import review_service_pb2 as pb

from domain.errors import DomainError, NotCoordinatorError
from projections.engine.live import LiveViews
from services.app.identity import TrustAnchors, check_signed
from services.app.importer import ImportFailedError, import_plans
from services.app.ledger import Actor, Ledger
from services.app.submissions import (
    Command,
    Refusal,
    Verdict,
    acceptance,
    known,
    record_invalid,
    review_scope,
    submit,
)
from services.grpc.callers import current_caller
from services.grpc.errors import RejectedError
from services.grpc.ingest import not_caller
from services.wire.convert import QUALITIES, Checker, from_timestamp, verdict_message
from services.wire.envelopes import digest_of, signed_of
from services.wire.violations import RequestInvalidError, Violation

CHANNEL = "grpc-review"


def actor_of(check: Checker, request: Any) -> Actor:
    reviewer = request.reviewer
    agency = check.required("reviewer.agency_id", reviewer.agency_id)
    occurred_at = from_timestamp(reviewer.occurred_at) if reviewer.HasField("occurred_at") else None
    return Actor(agency, reviewer.person or None, CHANNEL, request.request_id, occurred_at)


def command(request: Any, kind: str, subject: str, args: dict[str, Any], check: Checker) -> Command:
    request_id = check.uuid("request_id", request.request_id)
    actor = actor_of(check, request)
    check.subject("subject" if hasattr(request, "subject") else "plan_id", subject)
    check.done()
    return Command(
        request_id,
        kind,
        subject,
        actor,
        {k: v for k, v in args.items() if v != ""},
        digest=digest_of(request),
        scope=review_scope(actor.agency, kind),
    )


def judge_args(check: Checker, request: Any) -> dict[str, Any]:
    check.required("sha256", request.sha256)
    return {
        "sha256": request.sha256,
        "quality": QUALITIES.get(request.quality, ""),
        "reason": request.reason,
    }


class ReviewServicer(review_service_pb2_grpc.ReviewServiceServicer):
    def __init__(
        self,
        app: Ledger,
        registry: tuple[Path, ...],
        live: LiveViews,
        anchors: TrustAnchors | None = None,
    ) -> None:
        self.app = app
        self.registry = registry
        self.live = live
        # None: the configured ones, loaded when first needed
        self._anchors = anchors

    @property
    def anchors(self) -> TrustAnchors:
        if self._anchors is None:
            self._anchors = TrustAnchors.load()
        return self._anchors

    def verified(self, cmd: Command, request: Any) -> Command:
        """``cmd`` once its request is found sent by its reviewer: the caller's own
        name, signed by its key. A refusal is recorded (keyed unverified) and raised."""
        agency = cmd.actor.agency
        signed = signed_of(request)
        try:
            caller = current_caller()
            if caller is not None and caller.name != agency:
                raise not_caller(caller, agency, "reviewer.agency_id")
            check_signed(self.app, agency, signed, self.anchors, self.app.clock())
        except DomainError as error:
            refusal = Refusal.of(error)
            record_invalid(self.app, cmd.unverified(), refusal)
            verdict = refusal.verdict(cmd.event_id)
            raise RejectedError(verdict, verdict_message(verdict)) from None
        return replace(cmd, signature=signed)

    def submitted(self, cmd: Command, request: Any) -> Verdict:
        return submit(self.app, self.verified(cmd, request))

    async def verdict(self, cmd: Command, request: Any) -> envelope_pb2.Verdict:
        """Apply a review; answer once the views hold it (bounded): read your writes.
        Refused at once while the database is away (``STORE_UNAVAILABLE``)."""
        self.live.require_store()
        try:
            verdict = await asyncio.to_thread(self.submitted, cmd, request)
        finally:
            await self.live.settle()
        if verdict.outcome == "rejected":
            raise RejectedError(verdict, verdict_message(verdict))
        return verdict_message(verdict)

    async def AcceptEvidence(
        self, request: pb.AcceptEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcceptEvidenceResponse:
        check = Checker()
        args = judge_args(check, request)
        cmd = command(request, "evidence_accepted", request.subject, args, check)
        return pb.AcceptEvidenceResponse(verdict=await self.verdict(cmd, request))

    async def RejectEvidence(
        self, request: pb.RejectEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectEvidenceResponse:
        check = Checker()
        args = judge_args(check, request)
        check.required("reason", request.reason)
        cmd = command(request, "evidence_rejected", request.subject, args, check)
        return pb.RejectEvidenceResponse(verdict=await self.verdict(cmd, request))

    async def ConfirmCompletion(
        self, request: pb.ConfirmCompletionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmCompletionResponse:
        cmd = command(
            request, "completion_confirmed", request.subject, {"note": request.note}, Checker()
        )
        return pb.ConfirmCompletionResponse(verdict=await self.verdict(cmd, request))

    async def ChangeDeadline(
        self, request: pb.ChangeDeadlineRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangeDeadlineResponse:
        check = Checker()
        for name in ("deadline", "reason", "document"):
            check.required(name, getattr(request, name))
        args = {
            "deadline": request.deadline,
            "reason": request.reason,
            "document": request.document,
        }
        cmd = command(request, "deadline_changed", request.subject, args, check)
        return pb.ChangeDeadlineResponse(verdict=await self.verdict(cmd, request))

    def dependency(self, request: Any, kind: str) -> Command:
        check = Checker()
        check.required("plan_id", request.plan_id)
        for name in ("upstream_task", "downstream_task", "reason"):
            check.required(name, getattr(request, name))
        args = {
            "upstream": request.upstream_task,
            "downstream": request.downstream_task,
            "reason": request.reason,
        }
        return command(request, kind, request.plan_id, args, check)

    async def DeclareDependency(
        self, request: pb.DeclareDependencyRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeclareDependencyResponse:
        verdict = await self.verdict(self.dependency(request, "dependency_declared"), request)
        return pb.DeclareDependencyResponse(verdict=verdict)

    async def WithdrawDependency(
        self, request: pb.WithdrawDependencyRequest, context: grpc.aio.ServicerContext
    ) -> pb.WithdrawDependencyResponse:
        verdict = await self.verdict(self.dependency(request, "dependency_withdrawn"), request)
        return pb.WithdrawDependencyResponse(verdict=verdict)

    async def AmendPlan(
        self, request: pb.AmendPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.AmendPlanResponse:
        check = Checker()
        request_id = check.uuid("request_id", request.request_id)
        actor = actor_of(check, request)
        if not request.plan_file:
            check.add("plan_file", "is required", "FIELD_REQUIRED")
        check.done()
        kind = "plan_amended"
        cmd = Command(
            request_id,
            kind,
            "",
            actor,
            digest=digest_of(request),
            scope=review_scope(actor.agency, kind),
        )
        self.live.require_store()
        try:
            return await asyncio.to_thread(self.amend, cmd, request)
        finally:
            await self.live.settle()

    def amend(self, cmd: Command, request: pb.AmendPlanRequest) -> pb.AmendPlanResponse:
        """Import the plan file as the (verified) reviewer (the domain lets only the
        plan's coordination office issue or amend it); a retry gets the first verdict."""
        cmd = self.verified(cmd, request)
        plan_file, reason = request.plan_file, request.reason
        earlier = known(self.app, cmd)
        if earlier is not None:
            if earlier.outcome == "rejected":
                raise RejectedError(earlier, verdict_message(earlier))
            return pb.AmendPlanResponse(verdict=verdict_message(earlier), action="unchanged")
        actor = cmd.actor
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "plan.yaml"
            path.write_bytes(plan_file)
            try:
                report = import_plans(self.app, [path], self.registry, reason=reason, actor=actor)
            except NotCoordinatorError as refused:
                raise NotCoordinatorError(refused.message, field="reviewer.agency_id") from None
            except ImportFailedError as failed:
                raise RequestInvalidError(
                    [
                        Violation(f"plan_file:{p.line}:{p.field}", p.message, p.code)
                        for p in failed.problems
                    ]
                ) from None
        key = report.plans[0]["plan_id"]
        plan = self.app.plan(key)
        self.app.save(acceptance(self.app, replace(cmd, subject=key), plan.version))
        position = self.app.position(plan.id, plan.version)
        verdict = Verdict(cmd.event_id, "accepted", position=position)
        return pb.AmendPlanResponse(
            verdict=verdict_message(verdict),
            action=report.plans[0]["action"],
            events=report.events,
            warnings=[
                pb.PlanFileWarning(
                    code=w.code, field=f"plan_file:{w.line}:{w.field}", message=w.said, line=w.line
                )
                for w in report.warnings
            ],
        )
