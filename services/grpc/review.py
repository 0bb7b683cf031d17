"""ReviewService: the coordination office's writes, each idempotent on request_id."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from lienthong.v1 import envelope_pb2, review_service_pb2_grpc
from lienthong.v1 import review_service_pb2 as pb

from domain.errors import NotCoordinatorError
from projections.engine.live import LiveViews
from services.app.importer import ImportFailedError, import_plans
from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, Verdict, acceptance, known, review_scope, submit
from services.grpc.errors import RejectedError
from services.wire.convert import QUALITIES, Checker, from_timestamp, verdict_message
from services.wire.envelopes import digest_of
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
    def __init__(self, app: Ledger, registry: Path, live: LiveViews) -> None:
        self.app = app
        self.registry = registry
        self.live = live

    async def verdict(self, cmd: Command) -> envelope_pb2.Verdict:
        """Apply a review; answer once the views hold it (bounded): read your writes."""
        verdict = await asyncio.to_thread(submit, self.app, cmd)
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
        return pb.AcceptEvidenceResponse(verdict=await self.verdict(cmd))

    async def RejectEvidence(
        self, request: pb.RejectEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectEvidenceResponse:
        check = Checker()
        args = judge_args(check, request)
        check.required("reason", request.reason)
        cmd = command(request, "evidence_rejected", request.subject, args, check)
        return pb.RejectEvidenceResponse(verdict=await self.verdict(cmd))

    async def ConfirmCompletion(
        self, request: pb.ConfirmCompletionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmCompletionResponse:
        cmd = command(
            request, "completion_confirmed", request.subject, {"note": request.note}, Checker()
        )
        return pb.ConfirmCompletionResponse(verdict=await self.verdict(cmd))

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
        return pb.ChangeDeadlineResponse(verdict=await self.verdict(cmd))

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
        verdict = await self.verdict(self.dependency(request, "dependency_declared"))
        return pb.DeclareDependencyResponse(verdict=verdict)

    async def WithdrawDependency(
        self, request: pb.WithdrawDependencyRequest, context: grpc.aio.ServicerContext
    ) -> pb.WithdrawDependencyResponse:
        verdict = await self.verdict(self.dependency(request, "dependency_withdrawn"))
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
        try:
            return await asyncio.to_thread(self.amend, cmd, request.plan_file, request.reason)
        finally:
            await self.live.settle()

    def amend(self, cmd: Command, plan_file: bytes, reason: str) -> pb.AmendPlanResponse:
        """Import the plan file as the reviewer (the domain lets only the plan's
        coordination office issue or amend it); a retry gets the first verdict."""
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
            verdict=verdict_message(verdict), action=report.plans[0]["action"], events=report.events
        )
