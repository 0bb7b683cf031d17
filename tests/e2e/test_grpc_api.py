"""End to end over a real gRPC channel to a real server on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    envelope_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    resources_pb2,
    review_service_pb2,
    review_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)

from lienthong_sdk.identity import canonical_bytes
from services.app.clock import ward_today
from tests.identities import signed

PB = "phuoc-binh-2026"
DOC = hashlib.sha256(b"unsigned scan").hexdigest()
SIGNED = hashlib.sha256(b"signed decision").hexdigest()
TIMEOUT = 20


def envelope(
    agency: str, subject: str, evidence: tuple[str, ...] = (), **payload: Any
) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id=agency, subject=subject
    )
    message.occurred_at.FromDatetime(dt.datetime.now(dt.UTC))
    for sha in evidence:
        message.evidence.add(
            sha256=sha, uri=f"s3://evidence/{sha[:8]}.pdf", media_type="application/pdf"
        )
    ((kind, fields),) = payload.items()
    getattr(message, kind).CopyFrom(
        getattr(envelope_pb2, "".join(w.title() for w in kind.split("_")))(**fields)
    )
    return message


def publish(
    channel: grpc.Channel, message: envelope_pb2.AgencyEventEnvelope
) -> envelope_pb2.Verdict:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    return stub.Publish(
        ingest_service_pb2.PublishRequest(envelope=message), timeout=TIMEOUT
    ).verdict


def reviewer(agency: str = "phuoc-binh.vhxh") -> review_service_pb2.Reviewer:
    return review_service_pb2.Reviewer(agency_id=agency, person="Lê Thị C")


# Reviews the office's own items.
STEERING = "phuoc-binh.steering-committee"


def request_id() -> str:
    return str(uuid.uuid4())


def status_of(error: grpc.RpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    pytest.fail("the error carries no google.rpc.Status")


def detail(status: status_pb2.Status, kind: type[Any]) -> Any:
    for any_detail in status.details:
        if any_detail.Is(kind.DESCRIPTOR):
            message = kind()
            any_detail.Unpack(message)
            return message
    pytest.fail(f"no {kind.__name__} in the status details")


def play_february(channel: grpc.Channel) -> dt.datetime:
    """A scripted month of Phước Bình; returns a time between its first two events."""
    review = review_service_pb2_grpc.ReviewServiceStub(channel)
    assert (
        publish(
            channel,
            envelope(
                "phuoc-binh.health-post",
                f"{PB}/task/24",
                progress_reported={"percent": 30, "as_of": "2026-02-10"},
            ),
        ).outcome
        == envelope_pb2.OUTCOME_ACCEPTED
    )
    between = dt.datetime.now(dt.UTC)
    publish(
        channel,
        envelope(
            "phuoc-binh.police",
            f"{PB}/task/24",
            contribution_reported={"percent": 50, "as_of": "2026-02-15"},
        ),
    )
    publish(
        channel,
        envelope("phuoc-binh.ttpvhcc", f"{PB}/task/8", (DOC,), completion_claimed={"note": "xong"}),
    )
    review.RejectEvidence(
        review_service_pb2.RejectEvidenceRequest(
            request_id=request_id(),
            reviewer=reviewer(),
            subject=f"{PB}/task/8",
            sha256=DOC,
            reason="Chưa ký",
        ),
        timeout=TIMEOUT,
    )
    publish(channel, envelope("phuoc-binh.vhxh", f"{PB}/task/3", (SIGNED,), completion_claimed={}))
    review.AcceptEvidence(
        review_service_pb2.AcceptEvidenceRequest(
            request_id=request_id(),
            reviewer=reviewer(STEERING),
            subject=f"{PB}/task/3",
            sha256=SIGNED,
            quality=envelope_pb2.EVIDENCE_QUALITY_GOOD,
        ),
        timeout=TIMEOUT,
    )
    review.ConfirmCompletion(
        review_service_pb2.ConfirmCompletionRequest(
            request_id=request_id(), reviewer=reviewer(STEERING), subject=f"{PB}/task/3"
        ),
        timeout=TIMEOUT,
    )
    publish(
        channel,
        envelope(
            "phuoc-binh.health-post",
            f"{PB}/indicator/7",
            indicator_measured={
                "value": "71,5",
                "unit": "%",
                "period": "2026-02",
                "as_of": "2026-02-28",
            },
        ),
    )
    review.ChangeDeadline(
        review_service_pb2.ChangeDeadlineRequest(
            request_id=request_id(),
            reviewer=reviewer(),
            subject=f"{PB}/task/5",
            deadline="Quý II/2026",
            reason="Chờ tỉnh",
            document="CV 45/UBND",
        ),
        timeout=TIMEOUT,
    )
    review.DeclareDependency(
        review_service_pb2.DeclareDependencyRequest(
            request_id=request_id(),
            reviewer=reviewer(),
            plan_id=PB,
            upstream_task="21",
            downstream_task="24",
            reason="cần danh tính số",
        ),
        timeout=TIMEOUT,
    )
    return between


def counts(status: resources_pb2.PlanStatus) -> dict[str, int]:
    return {resources_pb2.ItemStatus.Name(c.status): c.count for c in status.by_status if c.count}


def test_a_scripted_month_reads_back_as_the_expected_consolidated_status(
    channel: grpc.Channel,
) -> None:
    play_february(channel)
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    # on 1 April the reports of February show; the claims, the reviews, task 3's
    # completion and task 5's deadline moved to Quý II, all made today, not yet: tasks
    # 3, 4 and 5, due in Quý I, were overdue then
    april = plans.GetPlanStatus(
        plan_service_pb2.GetPlanStatusRequest(plan_id=PB, as_of="2026-04-01"), timeout=TIMEOUT
    ).status
    assert counts(april) == {"ITEM_STATUS_NOT_STARTED": 54, "ITEM_STATUS_IN_PROGRESS": 2}
    assert list(april.awaiting_completion) == []
    assert [o.name for o in april.overdue] == [f"{PB}/task/{k}" for k in ("3", "4", "5")]
    assert [(d.upstream_task, d.downstream_task) for d in april.dependencies] == [("21", "24")]
    status = plans.GetPlanStatus(
        plan_service_pb2.GetPlanStatusRequest(plan_id=PB), timeout=TIMEOUT
    ).status
    assert counts(status) == {
        "ITEM_STATUS_NOT_STARTED": 52,
        "ITEM_STATUS_IN_PROGRESS": 2,
        "ITEM_STATUS_COMPLETED": 1,
        "ITEM_STATUS_AWAITING_COMPLETION": 1,
    }
    assert list(status.awaiting_completion) == [f"{PB}/task/8"]
    # flags are judged from each item's history: the rejection happened today
    today = ward_today().isoformat()
    task = plans.GetTask(
        plan_service_pb2.GetTaskRequest(name=f"{PB}/task/8", as_of=today), timeout=TIMEOUT
    ).task
    judged = [f for f in task.red_flags if f.rule != "REPORT_MISSING"]  # nothing reported
    assert (task.status_label, [f.rule for f in judged]) == (
        "Chờ hoàn thiện",
        ["LOW_QUALITY_EVIDENCE"],
    )
    (flag,) = judged
    assert (flag.rule_version, flag.raised_on, flag.cleared_on) == (1, today, "")
    assert flag.raised_by.startswith(f"{PB}/task/8@v")
    assert [f.rule for f in task.flag_history if f.rule != "REPORT_MISSING"] == [
        "LOW_QUALITY_EVIDENCE"
    ]


def test_the_audit_lists_a_task_and_its_status_as_known_earlier(channel: grpc.Channel) -> None:
    between = play_february(channel)
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    listing = audit.ListEvents(
        audit_service_pb2.ListEventsRequest(subject=f"{PB}/task/24"), timeout=TIMEOUT
    )
    assert [(e.topic, e.actor) for e in listing.events] == [
        ("lienthong.task.Assigned", "phuoc-binh.vhxh"),
        ("lienthong.task.ProgressReported", "phuoc-binh.health-post"),
        ("lienthong.task.ContributionReported", "phuoc-binh.police"),
    ]
    assert listing.events[1].body["percent"] == 30
    assert listing.events[1].position < listing.events[2].position
    request = audit_service_pb2.GetPlanStatusAsOfRequest(plan_id=PB, as_of="2026-04-01")
    request.known_at.FromDatetime(between)
    earlier = audit.GetPlanStatusAsOf(request, timeout=TIMEOUT).status
    assert counts(earlier) == {"ITEM_STATUS_NOT_STARTED": 55, "ITEM_STATUS_IN_PROGRESS": 1}
    assert list(earlier.dependencies) == []
    assert earlier.position == listing.events[1].position


def test_a_request_with_several_bad_fields_names_each_of_them(channel: grpc.Channel) -> None:
    bad = envelope_pb2.AgencyEventEnvelope(
        event_id="42",
        subject="Not/A Subject",
        progress_reported=envelope_pb2.ProgressReported(percent=140, as_of="31/02/2026"),
    )
    with pytest.raises(grpc.RpcError) as raised:
        publish(channel, bad)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    violations = {
        v.field
        for v in detail(status_of(raised.value), error_details_pb2.BadRequest).field_violations
    }
    assert violations == {
        "envelope.event_id",
        "envelope.agency_id",
        "envelope.subject",
        "envelope.occurred_at",
        "envelope.progress_reported.as_of",
        "envelope.progress_reported.percent",
    }


def test_a_report_on_another_agencys_task_is_refused_with_the_domain_code(
    channel: grpc.Channel,
) -> None:
    message = envelope(
        "phuoc-binh.vhxh", f"{PB}/task/24", progress_reported={"percent": 10, "as_of": "2026-02-10"}
    )
    with pytest.raises(grpc.RpcError) as raised:
        publish(channel, message)
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    status = status_of(raised.value)
    assert detail(status, error_details_pb2.ErrorInfo).reason == "NOT_LEAD_UNIT"
    assert detail(status, envelope_pb2.Verdict).outcome == envelope_pb2.OUTCOME_REJECTED
    again = publish(channel, message)
    assert (again.outcome, again.first_outcome, again.reason_code) == (
        envelope_pb2.OUTCOME_DUPLICATE,
        envelope_pb2.OUTCOME_REJECTED,
        "NOT_LEAD_UNIT",
    )


def test_the_same_envelope_twice_is_recorded_once(channel: grpc.Channel) -> None:
    message = envelope(
        "phuoc-binh.health-post",
        f"{PB}/task/24",
        progress_reported={"percent": 30, "as_of": "2026-02-10"},
    )
    first, second = publish(channel, message), publish(channel, message)
    assert (first.outcome, second.outcome) == (
        envelope_pb2.OUTCOME_ACCEPTED,
        envelope_pb2.OUTCOME_DUPLICATE,
    )
    assert second.position == first.position
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    events = audit.ListEvents(
        audit_service_pb2.ListEventsRequest(subject=f"{PB}/task/24"), timeout=TIMEOUT
    ).events
    assert len(events) == 2


def test_an_event_id_reused_for_another_payload_is_refused_as_already_exists(
    channel: grpc.Channel,
) -> None:
    first = envelope(
        "phuoc-binh.health-post",
        f"{PB}/task/24",
        progress_reported={"percent": 30, "as_of": "2026-02-10"},
    )
    other = envelope_pb2.AgencyEventEnvelope()
    other.CopyFrom(first)
    other.progress_reported.percent = 60
    signed(first)
    assert publish(channel, first).outcome == envelope_pb2.OUTCOME_ACCEPTED
    with pytest.raises(grpc.RpcError) as raised:
        publish(channel, other)
    assert raised.value.code() is grpc.StatusCode.ALREADY_EXISTS
    status = status_of(raised.value)
    assert detail(status, error_details_pb2.ErrorInfo).reason == "IDEMPOTENCY_KEY_REUSED"
    # the digest is of the canonical bytes: the envelope without its signature
    first_digest = hashlib.sha256(canonical_bytes(first)).hexdigest()
    assert first_digest in status.message


def test_a_batch_gets_one_verdict_per_envelope_in_order(channel: grpc.Channel) -> None:
    good = envelope(
        "phuoc-binh.health-post",
        f"{PB}/task/24",
        progress_reported={"percent": 30, "as_of": "2026-02-10"},
    )
    refused = envelope(  # task 28 is the police's
        "phuoc-binh.health-post",
        f"{PB}/task/28",
        progress_reported={"percent": 40, "as_of": "2026-02-11"},
    )
    malformed = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id="phuoc-binh.health-post"
    )
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    requests = iter(
        [
            ingest_service_pb2.PublishStreamRequest(envelope=e)
            for e in (good, refused, malformed, good)
        ]
    )
    verdicts = stub.PublishStream(requests, timeout=TIMEOUT).verdicts
    assert [(v.outcome, v.reason_code) for v in verdicts] == [
        (envelope_pb2.OUTCOME_ACCEPTED, ""),
        (envelope_pb2.OUTCOME_REJECTED, "NOT_LEAD_UNIT"),
        (envelope_pb2.OUTCOME_REJECTED, "INVALID_REQUEST"),
        (envelope_pb2.OUTCOME_DUPLICATE, ""),
    ]


def test_health_answers_serving_and_reflection_lists_the_services(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {
        f"lienthong.v1.{n}"
        for n in ("IngestService", "PlanService", "ReviewService", "AuditService", "WatchService")
    } <= names


def test_listing_tasks_page_by_page_yields_every_task_once(channel: grpc.Channel) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    keys, token = [], ""
    while True:
        page = plans.ListTasks(
            plan_service_pb2.ListTasksRequest(plan_id=PB, page_size=5, page_token=token),
            timeout=TIMEOUT,
        )
        assert len(page.tasks) <= 5
        keys += [t.key for t in page.tasks]
        token = page.next_page_token
        if not token:
            break
    assert len(keys) == len(set(keys)) == 32
    led = plans.ListTasks(
        plan_service_pb2.ListTasksRequest(plan_id=PB, agency_id="phuoc-binh.health-post"),
        timeout=TIMEOUT,
    )
    assert [t.key for t in led.tasks] == ["24"]


def test_a_watcher_sees_an_event_published_after_it_subscribed(channel: grpc.Channel) -> None:
    watch = watch_service_pb2_grpc.WatchServiceStub(channel)
    stream = watch.WatchChanges(
        watch_service_pb2.WatchChangesRequest(agency_id="phuoc-binh.police"), timeout=TIMEOUT
    )
    publish(
        channel,
        envelope(
            "phuoc-binh.health-post",
            f"{PB}/task/24",
            progress_reported={"percent": 30, "as_of": "2026-02-10"},
        ),
    )
    publish(
        channel,
        envelope(
            "phuoc-binh.police",
            f"{PB}/task/24",
            contribution_reported={"percent": 50, "as_of": "2026-02-15"},
        ),
    )
    first = next(stream).event
    stream.cancel()
    assert (first.actor, first.topic, first.subject) == (
        "phuoc-binh.police",
        "lienthong.task.ContributionReported",
        f"{PB}/task/24",
    )


def test_only_the_coordination_office_amends_a_plan(channel: grpc.Channel, tmp_path: Any) -> None:
    from tests.conftest import PLANS  # noqa: PLC0415

    source = next(p for p in PLANS if p.name.startswith("001")).read_bytes()
    edited = source.replace(
        'deadline: "Quý I/2026"'.encode(), 'deadline: "Quý II/2026"'.encode(), 1
    )
    review = review_service_pb2_grpc.ReviewServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        review.AmendPlan(
            review_service_pb2.AmendPlanRequest(
                request_id=request_id(),
                reviewer=reviewer("phuoc-binh.police"),
                plan_file=edited,
                reason="thử",
            ),
            timeout=TIMEOUT,
        )
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    amended = review.AmendPlan(
        review_service_pb2.AmendPlanRequest(
            request_id=request_id(), reviewer=reviewer(), plan_file=edited, reason="Rà soát quý I"
        ),
        timeout=TIMEOUT,
    )
    assert (amended.action, amended.verdict.outcome) == ("amended", envelope_pb2.OUTCOME_ACCEPTED)


def test_a_correction_names_the_version_its_report_verdict_gave(channel: grpc.Channel) -> None:
    lead = "phuoc-binh.ttpvhcc"
    publish(
        channel,
        envelope(lead, f"{PB}/task/23", progress_reported={"percent": 20, "as_of": "2026-01-31"}),
    )
    high = publish(
        channel,
        envelope(lead, f"{PB}/task/23", progress_reported={"percent": 35, "as_of": "2026-02-28"}),
    )
    fix = {
        "report_version": high.subject_version,
        "percent": 25,
        "reason": "nhầm số liệu",
        "note": "đối soát",
    }
    assert (
        publish(channel, envelope(lead, f"{PB}/task/23", report_corrected=fix)).outcome
        == envelope_pb2.OUTCOME_ACCEPTED
    )
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    assert (
        plans.GetTask(
            plan_service_pb2.GetTaskRequest(name=f"{PB}/task/23"), timeout=TIMEOUT
        ).task.percent
        == 25
    )


def test_a_plan_reads_back_its_reporting_regime_and_budget(channel: grpc.Channel) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    plan = plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id=PB), timeout=TIMEOUT).plan
    assert list(plan.reporting) == ["monthly", "quarterly", "yearly"]
    # Appendix II: 14 items, 8,073 triệu đồng
    assert (plan.budget.unit, plan.budget.total, len(plan.budget.items)) == (
        "triệu đồng",
        "8073",
        14,
    )
    assert sum(int(item.amount) for item in plan.budget.items) == 8073
    assert plan.budget.items[10].text.startswith("Đầu tư các thiết bị khoa học công nghệ")
    bp = plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id="binh-phuoc-2026"), timeout=TIMEOUT)
    assert (list(bp.plan.reporting), bp.plan.HasField("budget")) == ([], False)


def test_an_indicator_reads_back_its_shared_code_and_note(channel: grpc.Channel) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    name = "binh-phuoc-2026/indicator/1.1.a"  # "The plan names no lead unit for this target."
    request = plan_service_pb2.GetIndicatorRequest(name=name)
    indicator = plans.GetIndicator(request, timeout=TIMEOUT).indicator
    assert indicator.note.startswith("First unnumbered bullet of 1.1.")
    shared = plans.GetIndicator(
        plan_service_pb2.GetIndicatorRequest(name=f"{PB}/indicator/7"), timeout=TIMEOUT
    ).indicator
    assert shared.code == "EHEALTH_RECORD"


def test_an_unknown_plan_is_not_found_on_its_plan_id(channel: grpc.Channel) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id="nope-2026"), timeout=TIMEOUT)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert [
        v.field
        for v in detail(status_of(raised.value), error_details_pb2.BadRequest).field_violations
    ] == ["plan_id"]


def test_a_malformed_amendment_lists_the_problems_of_its_file(channel: grpc.Channel) -> None:
    review = review_service_pb2_grpc.ReviewServiceStub(channel)
    request = review_service_pb2.AmendPlanRequest(
        request_id=request_id(),
        reviewer=reviewer(),
        plan_file=b"format: lienthong.plan/v1\nplan: {}\n",
        reason="thử",
    )
    with pytest.raises(grpc.RpcError) as raised:
        review.AmendPlan(request, timeout=TIMEOUT)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = [
        v.field
        for v in detail(status_of(raised.value), error_details_pb2.BadRequest).field_violations
    ]
    assert "plan_file:2:plan.id" in fields
    assert "plan_file:2:plan.coordinator" in fields


def test_listing_events_ends_with_an_empty_page_token(channel: grpc.Channel) -> None:
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    page = audit.ListEvents(
        audit_service_pb2.ListEventsRequest(subject=f"{PB}/task/24", page_size=500), timeout=TIMEOUT
    )
    assert len(page.events) == 1
    assert page.next_page_token == ""
