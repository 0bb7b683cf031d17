"""Bitemporal reads over a real channel (docs/views.md): every PlanService read as of a
day (what the reports said about it) and as known at a moment (what the store held)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    envelope_pb2,
    plan_service_pb2,
    plan_service_pb2_grpc,
)

from services.grpc import reads
from tests.e2e.test_grpc_api import (
    PB,
    TIMEOUT,
    counts,
    detail,
    envelope,
    play_february,
    publish,
    status_of,
)
from tests.e2e.test_views_api import declare

pb = plan_service_pb2
TASK = f"{PB}/task/24"  # led by the health post, due 31 December 2026
LEAD = "phuoc-binh.health-post"


def report(channel: grpc.Channel, percent: int, as_of: str) -> envelope_pb2.Verdict:
    verdict = publish(
        channel, envelope(LEAD, TASK, progress_reported={"percent": percent, "as_of": as_of})
    )
    assert verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED
    return verdict


def moment() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_task(channel: grpc.Channel, **fields: Any) -> pb.GetTaskResponse:
    stub = plan_service_pb2_grpc.PlanServiceStub(channel)
    return stub.GetTask(pb.GetTaskRequest(name=TASK, **fields), timeout=TIMEOUT)


def known_at(at: dt.datetime) -> dict[str, Any]:
    return {"as_known_at": {"seconds": int(at.timestamp()), "nanos": at.microsecond * 1000}}


def flags(task: Any) -> list[str]:
    return [f.rule for f in task.red_flags]


def test_a_report_dated_after_the_day_asked_never_shows_on_it(channel: grpc.Channel) -> None:
    report(channel, 10, "2026-03-31")
    report(channel, 60, "2026-11-01")
    june = get_task(channel, as_of="2026-06-30")
    # the flag judged on 30 June and the percent beside it both come from March's report
    assert (june.task.percent, june.task.last_report_as_of) == (10, "2026-03-31")
    assert "BEHIND_SCHEDULE" in flags(june.task)
    assert (june.answered_on.as_of, june.answered_on.replayed) == ("2026-06-30", True)
    november = get_task(channel, as_of="2026-11-02")
    assert (november.task.percent, november.task.last_report_as_of) == (60, "2026-11-01")
    assert "BEHIND_SCHEDULE" not in flags(november.task)
    today = get_task(channel)
    assert (today.task.percent, today.answered_on.replayed) == (60, False)


def test_the_audits_status_as_known_at_a_moment_leaves_out_reports_about_later_days(
    channel: grpc.Channel,
) -> None:
    report(channel, 60, "2026-11-01")  # the task's first report
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)

    def in_progress(as_of: str) -> int:
        request = audit_service_pb2.GetPlanStatusAsOfRequest(plan_id=PB, as_of=as_of)
        request.known_at.FromDatetime(moment())
        status = audit.GetPlanStatusAsOf(request, timeout=TIMEOUT).status
        return counts(status).get("ITEM_STATUS_IN_PROGRESS", 0)

    assert (in_progress("2026-06-30"), in_progress("2026-11-02")) == (0, 1)


def test_a_correction_recorded_after_a_moment_is_not_known_at_it(channel: grpc.Channel) -> None:
    report(channel, 20, "2026-01-31")
    high = report(channel, 35, "2026-02-28")
    before = moment()
    fix = {"report_version": high.subject_version, "percent": 25, "reason": "nhầm số liệu"}
    assert (
        publish(channel, envelope(LEAD, TASK, report_corrected=fix)).outcome
        == envelope_pb2.OUTCOME_ACCEPTED
    )
    after = moment()
    assert get_task(channel, as_of="2026-03-01", **known_at(before)).task.percent == 35
    assert get_task(channel, as_of="2026-03-01", **known_at(after)).task.percent == 25
    # the correction is about 28 February: not on the day before
    assert get_task(channel, as_of="2026-02-27", **known_at(after)).task.percent == 20
    first, second = (
        get_task(channel, **known_at(at)).answered_on.position for at in (before, after)
    )
    assert 0 < first < second


Read = tuple[str, Callable[[], Message]]
READS: list[Read] = [
    ("ListPlans", lambda: pb.ListPlansRequest(ward_id="phuoc-binh")),
    ("GetPlan", lambda: pb.GetPlanRequest(plan_id=PB)),
    ("ListTasks", lambda: pb.ListTasksRequest(plan_id=PB)),
    ("GetTask", lambda: pb.GetTaskRequest(name=TASK)),
    ("ListIndicators", lambda: pb.ListIndicatorsRequest(plan_id=PB)),
    ("GetIndicator", lambda: pb.GetIndicatorRequest(name=f"{PB}/indicator/3.2")),
    ("GetPlanStatus", lambda: pb.GetPlanStatusRequest(plan_id=PB)),
    ("ListRedFlags", lambda: pb.ListRedFlagsRequest(plan_id=PB, include_cleared=True)),
    ("GetDependencies", lambda: pb.GetDependenciesRequest(plan_id=PB)),
    ("ListScorecards", lambda: pb.ListScorecardsRequest(plan_id=PB)),
    ("ListBottlenecks", lambda: pb.ListBottlenecksRequest(ward_id="phuoc-binh")),
    ("ListRollups", lambda: pb.ListRollupsRequest(by=pb.ROLLUP_BY_PLAN)),
    ("ListIndicatorRollups", lambda: pb.ListIndicatorRollupsRequest(code="FULL_ONLINE_SERVICES")),
    ("ListPeriodSummaries", lambda: pb.ListPeriodSummariesRequest(plan_id=PB)),
    ("ListMissingReports", lambda: pb.ListMissingReportsRequest(plan_id=PB)),
]


def test_every_read_of_the_plan_service_is_covered() -> None:
    methods = plan_service_pb2.DESCRIPTOR.services_by_name["PlanService"].methods_by_name
    assert {name for name, _ in READS} == set(methods)


def answer(channel: grpc.Channel, method: str, request: Message) -> Message | grpc.StatusCode:
    """The response but what it was answered on; or the refusal's code."""
    try:
        response: Message = getattr(plan_service_pb2_grpc.PlanServiceStub(channel), method)(
            request, timeout=TIMEOUT
        )
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    response.ClearField("answered_on")
    return response


# what a plan itself reads as changes only with its file: before it, the plans' import
BEFORE_IMPORT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(("method", "request_of"), READS, ids=[name for name, _ in READS])
def test_each_read_as_known_before_a_change_and_after_it_differs(
    channel: grpc.Channel, method: str, request_of: Callable[[], Message]
) -> None:
    before = moment()
    play_february(channel)  # reports, reviews, a deadline moved, a dependency declared
    declare(channel, "4", "24")  # task 4, late since April, now holds up task 24
    measured = {"value": "85", "unit": "%", "period": "2026", "as_of": "2026-11-30"}
    publish(
        channel, envelope("phuoc-binh.ttpvhcc", f"{PB}/indicator/3.2", indicator_measured=measured)
    )
    after = moment()
    request = request_of()
    plan_only = method in ("ListPlans", "GetPlan")
    request.as_known_at.FromDatetime(BEFORE_IMPORT if plan_only else before)  # type: ignore[attr-defined]
    then = answer(channel, method, request)
    request.as_known_at.FromDatetime(after)  # type: ignore[attr-defined]
    now = answer(channel, method, request)
    assert then != now
    request.ClearField("as_known_at")
    assert answer(channel, method, request) == now  # the live views agree with the replay


def refusal(call: Callable[..., Any], request: Message) -> tuple[grpc.StatusCode, Any]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=TIMEOUT)
    return raised.value.code(), status_of(raised.value)


def test_a_malformed_day_and_a_moment_not_yet_come_are_refused_with_their_codes(
    channel: grpc.Channel,
) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    request = pb.GetIndicatorRequest(name=f"{PB}/indicator/3.2", as_of="30/06/2026")
    request.as_known_at.FromDatetime(moment() + dt.timedelta(hours=1))
    code, status = refusal(plans.GetIndicator, request)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    found = detail(status, error_details_pb2.BadRequest)
    assert {(v.field, v.reason) for v in found.field_violations} == {
        ("as_of", "DATE_INVALID"),
        ("as_known_at", "KNOWN_AT_IN_FUTURE"),
    }


def test_a_plan_not_recorded_by_the_moment_asked_is_not_found(channel: grpc.Channel) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    request = pb.GetPlanStatusRequest(plan_id=PB)
    request.as_known_at.FromDatetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    code, status = refusal(plans.GetPlanStatus, request)
    assert code is grpc.StatusCode.NOT_FOUND
    assert f"plan {PB} was not recorded by 2026-01-01T00:00:00+00:00" in status.message
    found = detail(status, error_details_pb2.BadRequest)
    assert [v.field for v in found.field_violations] == ["plan_id"]


def test_an_auditor_paging_through_a_plan_as_known_at_a_moment_replays_the_log_once(
    channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    replays: list[dict[str, Any]] = []
    replay = reads.rows_known_at

    def counted(*args: Any, **kwargs: Any) -> Any:
        replays.append(kwargs)
        return replay(*args, **kwargs)

    monkeypatch.setattr(reads, "rows_known_at", counted)
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    request = pb.ListTasksRequest(plan_id=PB, page_size=10)
    request.as_known_at.FromDatetime(moment())
    names: list[str] = []
    while True:
        page = plans.ListTasks(request, timeout=TIMEOUT)
        names += [task.name for task in page.tasks]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    everything = plans.ListTasks(pb.ListTasksRequest(plan_id=PB, page_size=500), timeout=TIMEOUT)
    assert names == [task.name for task in everything.tasks]
    assert len(names) > 20
    assert len(replays) == 1
