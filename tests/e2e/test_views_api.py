"""The queries the live views answer, over a real channel: red flags with their
history, dependencies, scorecards, rollups, events from the audit trail, a view's
changes streamed, and the live views' guard against a second writer."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    review_service_pb2,
    review_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)

from services.app.clock import ward_today
from tests.e2e.conftest import ServerThread
from tests.e2e.test_grpc_api import (
    PB,
    TIMEOUT,
    detail,
    envelope,
    play_february,
    publish,
    request_id,
    reviewer,
    status_of,
)

TODAY = ward_today().isoformat()  # the server dates records by the ward's day


def plans_stub(channel: grpc.Channel) -> plan_service_pb2_grpc.PlanServiceStub:
    return plan_service_pb2_grpc.PlanServiceStub(channel)


def bad_fields(call: Any, request: Any) -> set[str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=TIMEOUT)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = detail(status_of(raised.value), error_details_pb2.BadRequest)
    return {v.field for v in found.field_violations}


def declare(channel: grpc.Channel, upstream: str, downstream: str) -> None:
    review_service_pb2_grpc.ReviewServiceStub(channel).DeclareDependency(
        review_service_pb2.DeclareDependencyRequest(
            request_id=request_id(),
            reviewer=reviewer(),
            plan_id=PB,
            upstream_task=upstream,
            downstream_task=downstream,
            reason="cần kết quả trước",
        ),
        timeout=TIMEOUT,
    )


def test_red_flags_list_by_plan_and_agency_with_rule_version_and_history(
    channel: grpc.Channel,
) -> None:
    play_february(channel)
    plans = plans_stub(channel)
    by_plan = every_flag(plans, plan_service_pb2.ListRedFlagsRequest(plan_id=PB, as_of=TODAY))
    low = [f for f in by_plan if f.rule == "LOW_QUALITY_EVIDENCE"]
    assert [(f.subject, f.rule_version, f.raised_on) for f in low] == [(f"{PB}/task/8", 1, TODAY)]
    by_agency = plans.ListRedFlags(
        plan_service_pb2.ListRedFlagsRequest(agency_id="phuoc-binh.ttpvhcc", as_of=TODAY),
        timeout=TIMEOUT,
    ).flags
    assert {(f.subject, f.rule) for f in by_agency} >= {(f"{PB}/task/8", "LOW_QUALITY_EVIDENCE")}
    assert all("phuoc-binh.ttpvhcc" in f.lead for f in by_agency)
    # task 4 (due in Quý I, never reported) is past its deadline from 1 April; the whole
    # history shows the reports it owes from the day after the first checkpoint (7
    # February), still up, and no schedule judged on a percent nobody reported
    history = every_flag(
        plans,
        plan_service_pb2.ListRedFlagsRequest(plan_id=PB, as_of="2026-04-02", include_cleared=True),
    )
    task4 = [(f.rule, f.raised_on, f.cleared_on) for f in history if f.subject == f"{PB}/task/4"]
    assert ("PAST_DEADLINE", "2026-04-01", "") in task4
    assert ("REPORT_MISSING", "2026-02-08", "") in task4
    assert "BEHIND_SCHEDULE" not in {rule for rule, _, _ in task4}
    assert fields_of_both_given(plans) == {"plan_id", "agency_id"}


def test_missing_reports_name_the_units_owing_each_period_by_plan_and_agency(
    channel: grpc.Channel,
) -> None:
    play_february(channel)
    plans = plans_stub(channel)
    on_march_8 = plan_service_pb2.ListMissingReportsRequest(
        plan_id=PB, as_of="2026-03-08", page_size=500
    )
    missing = plans.ListMissingReports(on_march_8, timeout=TIMEOUT).missing
    assert {m.period for m in missing} == {"2026-01", "2026-02"}  # both monthly reports due
    assert all(m.plan_id == PB and m.units for m in missing)
    assert [m.due for m in missing] == sorted(m.due for m in missing)
    mine = plans.ListMissingReports(
        plan_service_pb2.ListMissingReportsRequest(agency_id="phuoc-binh.vhxh", as_of="2026-03-08"),
        timeout=TIMEOUT,
    ).missing
    assert mine
    assert all("phuoc-binh.vhxh" in m.units for m in mine)
    # the same reports owed show as REPORT_MISSING flags, with their period and units
    flags = plans.ListRedFlags(
        plan_service_pb2.ListRedFlagsRequest(plan_id=PB, as_of="2026-03-08", page_size=500),
        timeout=TIMEOUT,
    ).flags
    owed = {(f.subject, f.period, tuple(f.units)) for f in flags if f.rule == "REPORT_MISSING"}
    assert owed == {(m.subject, m.period, tuple(m.units)) for m in missing}
    both = plan_service_pb2.ListMissingReportsRequest(plan_id=PB, agency_id="x")
    assert bad_fields(plans.ListMissingReports, both) == {"plan_id", "agency_id"}


def every_flag(
    plans: plan_service_pb2_grpc.PlanServiceStub, request: plan_service_pb2.ListRedFlagsRequest
) -> list[Any]:
    """Every page of the flags ``request`` asks for."""
    found: list[Any] = []
    while True:
        page = plans.ListRedFlags(request, timeout=TIMEOUT)
        found += page.flags
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token


def fields_of_both_given(plans: plan_service_pb2_grpc.PlanServiceStub) -> set[str]:
    request = plan_service_pb2.ListRedFlagsRequest(plan_id=PB, agency_id="x", as_of="1/4/2026")
    return bad_fields(plans.ListRedFlags, request) - {"as_of"}


def test_dependencies_show_blocked_tasks_the_critical_path_and_the_bottleneck(
    channel: grpc.Channel,
) -> None:
    review_service_pb2_grpc.ReviewServiceStub(channel).ChangeDeadline(
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
    declare(channel, "5", "4")
    plans = plans_stub(channel)
    march = plans.GetDependencies(
        plan_service_pb2.GetDependenciesRequest(plan_id=PB, as_of="2026-03-15", window_days=30),
        timeout=TIMEOUT,
    )
    assert [(b.downstream_task, b.upstream_task) for b in march.blocked] == [("4", "5")]
    assert list(march.critical_path.tasks) == ["5", "4"]
    # on 15/03 (before the deadline's change) 5 at 0% needs its whole span, past its
    # due day 31/03; 4, due the same day, waits for it and finishes with it
    five, four = march.critical_path.schedule
    assert (five.task, five.due, four.task, four.due) == ("5", "2026-03-31", "4", "2026-03-31")
    assert four.start == four.finish == five.finish > five.due
    assert march.critical_path.slack_days == four.slack_days < 0
    vhxh = next(a for a in march.agencies if a.agency_id == "phuoc-binh.vhxh")
    assert {(w.on_agency_id, w.reason) for w in vhxh.waits_on} >= {
        ("phuoc-binh.all-agencies", "coordination")
    }
    july = plans.ListBottlenecks(
        plan_service_pb2.ListBottlenecksRequest(as_of="2026-07-15"), timeout=TIMEOUT
    ).bottlenecks
    assert (july[0].agency_id, list(july[0].held_tasks)) == ("phuoc-binh.vhxh", [f"{PB}/task/4"])
    assert f"{PB}/task/5" in july[0].late_tasks
    request = plan_service_pb2.GetDependenciesRequest(window_days=-1)
    assert bad_fields(plans.GetDependencies, request) == {"plan_id", "window_days"}


def test_scorecards_rank_every_agency_with_the_parts_of_its_score(channel: grpc.Channel) -> None:
    play_february(channel)
    answer = plans_stub(channel).ListScorecards(
        plan_service_pb2.ListScorecardsRequest(plan_id=PB, as_of=TODAY, page_size=500),
        timeout=TIMEOUT,
    )
    cards = answer.scorecards
    assert [c.rank for c in cards] == list(range(1, len(cards) + 1))
    collectives = {c.agency_id for c in answer.collective_cards}
    assert "phuoc-binh.related-units" in collectives, "collectives are shown apart"
    assert not collectives & {c.agency_id for c in cards}, "and not ranked"
    assert {c.rank for c in answer.collective_cards} == {0}
    assert [c.score for c in cards] == sorted((c.score for c in cards), reverse=True)
    vhxh = next(c for c in cards if c.agency_id == "phuoc-binh.vhxh")
    parts = {p.name: p for p in vhxh.parts}
    assert set(parts) == {"on_time", "acceptance", "timeliness", "unflagged"}
    assert (parts["acceptance"].count, parts["acceptance"].of) == (1, 1)
    assert cards[-1].score <= vhxh.score


def test_rollups_per_plan_ward_agency_indicator_code_and_period(channel: grpc.Channel) -> None:
    play_february(channel)
    plans = plans_stub(channel)
    per_plan = plans.ListRollups(
        plan_service_pb2.ListRollupsRequest(by=plan_service_pb2.ROLLUP_BY_PLAN, as_of=TODAY),
        timeout=TIMEOUT,
    ).rollups
    assert len(per_plan) == 4
    pb_rollup = next(r for r in per_plan if r.group == PB)
    assert (pb_rollup.completed, pb_rollup.by_status["awaiting_completion"]) == (1, 1)
    per_ward = plans.ListRollups(
        plan_service_pb2.ListRollupsRequest(by=plan_service_pb2.ROLLUP_BY_WARD, as_of=TODAY),
        timeout=TIMEOUT,
    ).rollups
    assert sum(r.tasks for r in per_ward) == sum(r.tasks for r in per_plan)
    codes = plans.ListIndicatorRollups(
        plan_service_pb2.ListIndicatorRollupsRequest(year="2026"), timeout=TIMEOUT
    ).rollups
    assert any(r.wards > 1 for r in codes)
    quarters = plans.ListPeriodSummaries(
        plan_service_pb2.ListPeriodSummariesRequest(
            plan_id=PB, year=2026, period_kind="quarterly", as_of=TODAY
        ),
        timeout=TIMEOUT,
    ).summaries
    assert [q.period for q in quarters] == [f"2026-Q{n}" for n in range(1, 5)]
    assert sum(q.completed_in_period for q in quarters) == 1
    request = plan_service_pb2.ListRollupsRequest(as_of="soon")
    assert bad_fields(plans.ListRollups, request) == {"by", "as_of"}
    weekly = plan_service_pb2.ListPeriodSummariesRequest(
        plan_id=PB, year=2026, period_kind="weekly"
    )
    assert bad_fields(plans.ListPeriodSummaries, weekly) == {"period_kind"}
    # refused, and the server goes on answering
    assert plans.ListPeriodSummaries(
        plan_service_pb2.ListPeriodSummariesRequest(plan_id=PB, year=2026, as_of=TODAY),
        timeout=TIMEOUT,
    ).summaries


def test_events_by_agency_and_time_come_from_the_audit_trail(channel: grpc.Channel) -> None:
    play_february(channel)
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    request = audit_service_pb2.ListEventsRequest(agency_id="phuoc-binh.police", page_size=1)
    first = audit.ListEvents(request, timeout=TIMEOUT)
    request.page_token = first.next_page_token
    second = audit.ListEvents(request, timeout=TIMEOUT)
    events = [*first.events, *second.events]
    assert [e.topic for e in events] == [
        "lienthong.task.ContributionReported",
        "lienthong.submission.Accepted",
    ]
    later = audit_service_pb2.ListEventsRequest(plan_id=PB)
    later.start_time.CopyFrom(events[0].recorded_at)
    topics = [e.topic for e in audit.ListEvents(later, timeout=TIMEOUT).events]
    assert topics[0] == "lienthong.task.ContributionReported"
    assert "lienthong.task.Assigned" not in topics


def test_a_view_watcher_gets_the_rows_that_change_for_its_plan(channel: grpc.Channel) -> None:
    watch = watch_service_pb2_grpc.WatchServiceStub(channel)
    request = watch_service_pb2.WatchChangesRequest(
        plan_id=PB, view="task_status", initial_rows=True
    )
    stream = watch.WatchChanges(request, timeout=TIMEOUT)
    first = next(stream).change  # the rows as they stand come first: subscribed
    assert (first.view, first.key.startswith(f"{PB}/task/"), first.removed) == (
        "task_status",
        True,
        False,
    )
    verdict = publish(
        channel,
        envelope(
            "phuoc-binh.health-post",
            f"{PB}/task/24",
            progress_reported={"percent": 30, "as_of": "2026-02-10"},
        ),
    )
    changes = (r.change for r in stream if r.change.key == f"{PB}/task/24")
    initial = next(changes)
    change = next(changes)
    stream.cancel()
    assert (initial.row["percent"], change.row["percent"], change.row["status"]) == (
        0,
        30,
        "in_progress",
    )
    assert change.position >= verdict.position
    request = watch_service_pb2.WatchChangesRequest(plan_id=PB, view="nope")
    with pytest.raises(grpc.RpcError) as raised:
        next(watch.WatchChanges(request, timeout=TIMEOUT))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_another_writer_moving_a_views_tracking_makes_the_server_read_it_back(
    server: ServerThread, channel: grpc.Channel
) -> None:
    live = server.running.live
    runner = live.followed["task_status"].runner
    with runner.table.cursor() as cursor:  # another follower got further and changed a row
        cursor.execute("UPDATE view_task_status.tracking SET position = position + 1000")
        cursor.execute(
            "UPDATE view_task_status.rows SET data = jsonb_set(data, '{percent}', '99')"
            " WHERE key = %s",
            (f"{PB}/task/21",),
        )
    publish(
        channel,
        envelope(
            "phuoc-binh.health-post",
            f"{PB}/task/24",
            progress_reported={"percent": 30, "as_of": "2026-02-10"},
        ),
    )
    task = (
        plans_stub(channel)
        .GetTask(plan_service_pb2.GetTaskRequest(name=f"{PB}/task/21"), timeout=TIMEOUT)
        .task
    )
    assert task.percent == 99  # what the table holds, read back rather than overwritten
    assert runner.position() == live.followed["task_status"].position
