"""The auditors' questions over mutual TLS on a real PostgreSQL: late reports
(AuditEvent.late, ListEvents late_only per plan and per agency), the numbers changed
after a time (ListCorrections, with what each correction replaced) and the
inspector's one call (GetInspection: status as known then, corrections after, late
reports, the covering signed checkpoint)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    envelope_pb2,
    resources_pb2,
    review_service_pb2,
    review_service_pb2_grpc,
)
from psycopg import sql

from domain.clock import ward_day
from projections.engine.live import CORRECTIONS_ONLY
from services.app import inspection
from services.app.audit import log_tree, make_checkpoint
from services.app.notes import Checkpoint, Signer
from tests.e2e.conftest import ServerThread, routing_channel
from tests.e2e.test_grpc_api import (
    PB,
    TIMEOUT,
    detail,
    envelope,
    publish,
    request_id,
    reviewer,
    status_of,
)

TASK = f"{PB}/task/24"  # led by the health post
LEAD = "phuoc-binh.health-post"
OFFICE = "phuoc-binh.vhxh"
LONG_AGO = "2026-02-10"
SIGNER = Signer.generate("lienthong.local/log")


def stamp(moment: dt.datetime) -> Any:
    request = audit_service_pb2.GetInspectionRequest()
    request.known_at.FromDatetime(moment)
    return request.known_at


def accepted(channel: grpc.Channel, **payload: Any) -> None:
    verdict = publish(channel, envelope(LEAD, TASK, **payload))
    assert verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED, verdict.message


def checkpoint(server: ServerThread) -> Checkpoint:
    note = make_checkpoint(log_tree(server.app.recorder), SIGNER, lambda _: None)
    return Checkpoint.parse(SIGNER.verifier().verify(note))


@dataclass
class Story:
    """Reports before ``before`` (one of them late), a checkpoint covering them, a
    report after it and ``after``; then the late report corrected twice and the
    task's deadline moved."""

    channel: grpc.Channel
    server: ServerThread
    before: dt.datetime  # covered by the first checkpoint
    after: dt.datetime  # not covered by it
    first: Checkpoint
    deadline: str  # the task's deadline as the plan assigned it


@pytest.fixture
def story(server: ServerThread) -> Iterator[Story]:
    with routing_channel(server.port) as channel:
        today = ward_day(dt.datetime.now(dt.UTC)).isoformat()
        accepted(channel, progress_reported={"percent": 30, "as_of": LONG_AGO})  # version 2
        accepted(channel, progress_reported={"percent": 50, "as_of": today})  # version 3
        before = dt.datetime.now(dt.UTC)
        first = checkpoint(server)
        accepted(channel, progress_reported={"percent": 60, "as_of": today})
        after = dt.datetime.now(dt.UTC)
        for percent, reason in ((25, "đếm trùng"), (20, "đếm trùng lần nữa")):
            corrected = {"report_version": 2, "percent": percent, "reason": reason}
            accepted(channel, report_corrected=corrected)
        review = review_service_pb2_grpc.ReviewServiceStub(channel)
        moved = review.ChangeDeadline(
            review_service_pb2.ChangeDeadlineRequest(
                request_id=request_id(),
                reviewer=reviewer(OFFICE),
                subject=TASK,
                deadline="Quý IV/2026",
                reason="chờ kinh phí",
                document="CV 12/UBND",
            ),
            timeout=TIMEOUT,
        )
        assert moved.verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED, moved.verdict.message
        assigned = audit(channel).ListEvents(
            audit_service_pb2.ListEventsRequest(subject=TASK, page_size=1), timeout=TIMEOUT
        )
        deadline = assigned.events[0].body["definition"]["deadline"]
        yield Story(channel, server, before, after, first, deadline)


def audit(channel: grpc.Channel) -> audit_service_pb2_grpc.AuditServiceStub:
    return audit_service_pb2_grpc.AuditServiceStub(channel)


def late_events(channel: grpc.Channel, **target: str) -> list[resources_pb2.AuditEvent]:
    request = audit_service_pb2.ListEventsRequest(late_only=True, **target)
    return list(audit(channel).ListEvents(request, timeout=TIMEOUT).events)


def test_a_report_of_a_day_long_gone_is_late_and_listed_as_such_per_plan_and_per_agency(
    story: Story,
) -> None:
    events = (
        audit(story.channel)
        .ListEvents(audit_service_pb2.ListEventsRequest(subject=TASK), timeout=TIMEOUT)
        .events
    )
    reports = [e for e in events if e.topic == "lienthong.task.ProgressReported"]
    assert [(e.body["percent"], e.late) for e in reports] == [(30, True), (50, False), (60, False)]
    as_of_ends = dt.datetime(2026, 2, 11, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    delay = reports[0].recorded_at.ToDatetime(dt.UTC) - as_of_ends
    assert abs(reports[0].delay_seconds - delay.total_seconds()) <= 1
    assert reports[1].delay_seconds < 7 * 86400
    assigned = events[0]  # recorded long after the plan was issued, but no report
    assert (assigned.topic, assigned.late) == ("lienthong.task.Assigned", False)
    for target in ({"plan_id": PB}, {"agency_id": LEAD}):
        assert [e.position for e in late_events(story.channel, **target)] == [reports[0].position]
    assert late_events(story.channel, agency_id=OFFICE) == []


def test_corrections_after_a_time_show_what_each_replaced_a_twice_corrected_report_included(
    story: Story,
) -> None:
    request = audit_service_pb2.ListCorrectionsRequest(plan_id=PB, page_size=2)
    request.recorded_after.FromDatetime(story.before)
    first = audit(story.channel).ListCorrections(request, timeout=TIMEOUT)
    assert first.next_page_token
    request.page_token = first.next_page_token
    rest = audit(story.channel).ListCorrections(request, timeout=TIMEOUT)
    assert rest.next_page_token == ""
    found = [*first.corrections, *rest.corrections]
    assert [(c.topic, [(v.field, v.before, v.after) for v in c.changes]) for c in found] == [
        ("lienthong.task.ReportCorrected", [("percent", "30", "25")]),
        ("lienthong.task.ReportCorrected", [("percent", "25", "20")]),
        ("lienthong.task.DeadlineChanged", [("deadline", story.deadline, "Quý IV/2026")]),
    ]
    assert [(c.corrects_version, c.as_of, c.reason) for c in found[:2]] == [
        (2, LONG_AGO, "đếm trùng"),
        (2, LONG_AGO, "đếm trùng lần nữa"),
    ]
    moved = found[2]
    assert (moved.subject, moved.actor, moved.document, moved.reason) == (
        TASK,
        OFFICE,
        "CV 12/UBND",
        "chờ kinh phí",
    )
    assert found[0].position < found[1].position < moved.position
    assert all(c.recorded_at.ToDatetime(dt.UTC) > story.after for c in found)
    by_lead = audit_service_pb2.ListCorrectionsRequest(agency_id=LEAD)
    by_lead.recorded_after.FromDatetime(story.before)
    by_lead.recorded_before.FromDatetime(found[1].recorded_at.ToDatetime(dt.UTC))
    listed = audit(story.channel).ListCorrections(by_lead, timeout=TIMEOUT).corrections
    assert [c.position for c in listed] == [found[0].position]  # not the office's, not later


def inspect(story: Story, known_at: dt.datetime) -> audit_service_pb2.GetInspectionResponse:
    request = audit_service_pb2.GetInspectionRequest(
        plan_id=PB, as_of="2026-06-30", known_at=stamp(known_at)
    )
    return audit(story.channel).GetInspection(request, timeout=TIMEOUT)


def test_the_inspection_answers_from_what_was_known_then_with_the_checkpoint_that_covers_it(
    story: Story,
) -> None:
    answer = inspect(story, story.before)
    as_of = audit_service_pb2.GetPlanStatusAsOfRequest(
        plan_id=PB, as_of="2026-06-30", known_at=stamp(story.before)
    )
    assert answer.status == audit(story.channel).GetPlanStatusAsOf(as_of, timeout=TIMEOUT).status
    events = (
        audit(story.channel)
        .ListEvents(audit_service_pb2.ListEventsRequest(subject=TASK), timeout=TIMEOUT)
        .events
    )
    known = [e for e in events if e.recorded_at.ToDatetime(dt.UTC) <= story.before]
    assert answer.status.position == known[-1].position  # nothing recorded later counts
    assert [e.body["percent"] for e in answer.late_reports] == [30]
    assert [c.topic.rsplit(".", 1)[1] for c in answer.corrections_after] == [
        "ReportCorrected",
        "ReportCorrected",
        "DeadlineChanged",
    ]
    assert (answer.covered, answer.leaves_known) == (True, story.first.size)
    assert answer.checkpoint_tree_size == story.first.size
    assert Checkpoint.parse(SIGNER.verifier().verify(answer.checkpoint_note)) == story.first


def test_a_time_no_kept_checkpoint_covers_yet_is_said_so_then_the_earliest_that_does(
    story: Story,
) -> None:
    answer = inspect(story, story.after)
    assert (answer.covered, answer.checkpoint_note, answer.checkpoint_tree_size) == (False, "", 0)
    assert answer.leaves_known > story.first.size
    assert not answer.HasField("checkpoint_made_at")
    second = checkpoint(story.server)
    checkpoint(story.server)  # a later one covers it too, but is not the earliest
    answer = inspect(story, story.after)
    assert (answer.covered, answer.checkpoint_tree_size) == (True, second.size)
    assert Checkpoint.parse(SIGNER.verifier().verify(answer.checkpoint_note)) == second
    assert [c.topic.rsplit(".", 1)[1] for c in answer.corrections_after] == [
        "ReportCorrected",
        "ReportCorrected",
        "DeadlineChanged",
    ]


def violations(error: grpc.RpcError) -> dict[str, str]:
    found = detail(status_of(error), error_details_pb2.BadRequest).field_violations
    return {v.field: v.reason for v in found}


@pytest.mark.parametrize(
    ("method", "fields", "expected"),
    [
        ("GetInspection", {"plan_id": PB, "as_of": "2026-06-30"}, {"known_at": "FIELD_REQUIRED"}),
        (
            "GetInspection",
            {"plan_id": "", "as_of": "2026-6-30", "known_at": stamp(dt.datetime.now(dt.UTC))},
            {"plan_id": "FIELD_REQUIRED", "as_of": "DATE_INVALID"},
        ),
        (
            "GetInspection",
            {"plan_id": PB},
            {"as_of": "FIELD_REQUIRED", "known_at": "FIELD_REQUIRED"},
        ),
        ("ListCorrections", {"plan_id": PB}, {"recorded_after": "FIELD_REQUIRED"}),
        (
            "ListCorrections",
            {"recorded_after": stamp(dt.datetime.now(dt.UTC))},
            {"plan_id": "ONE_OF_REQUIRED", "agency_id": "ONE_OF_REQUIRED"},
        ),
        (
            "ListCorrections",
            {"plan_id": PB, "agency_id": LEAD, "recorded_after": stamp(dt.datetime.now(dt.UTC))},
            {"plan_id": "ONE_OF_REQUIRED", "agency_id": "ONE_OF_REQUIRED"},
        ),
        (
            "ListCorrections",
            {"plan_id": TASK, "recorded_after": stamp(dt.datetime.now(dt.UTC))},
            {"plan_id": "NOT_A_PLAN"},
        ),
    ],
)
def test_a_bad_audit_question_names_each_bad_field_with_its_reason(
    channel: grpc.Channel, method: str, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    request = getattr(audit_service_pb2, f"{method}Request")(**fields)
    with pytest.raises(grpc.RpcError) as raised:
        getattr(audit(channel), method)(request, timeout=TIMEOUT)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == expected


@pytest.mark.parametrize(
    ("statement", "field", "index"),
    [
        (inspection.EVENTS, "plan_id", "rows_plan_late"),
        (inspection.EVENTS, "agency_id", "rows_actor_late"),
        (inspection.CORRECTIONS, "plan_id", "rows_plan_corrections"),
        (inspection.CORRECTIONS, "agency_id", "rows_actor_corrections"),
    ],
)
def test_late_reports_and_corrections_are_read_by_their_partial_indexes(
    server: ServerThread, statement: sql.SQL, field: str, index: str
) -> None:
    only = inspection.LATE if statement is inspection.EVENTS else sql.SQL(CORRECTIONS_ONLY)
    params = {"value": LEAD, "after": "0", "begin": None, "end": None, "limit": 10}
    with server.app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("SET LOCAL enable_seqscan = off")  # the tables of a test are small
        cursor.execute(
            sql.SQL("EXPLAIN ") + statement.format(inspection.WHERE[field], only), params
        )
        plan = "\n".join(str(next(iter(row.values()))) for row in cursor.fetchall())
    assert f"Index Scan using {index} on rows" in plan


def test_an_inspection_of_a_plan_not_recorded_by_then_is_not_found(channel: grpc.Channel) -> None:
    request = audit_service_pb2.GetInspectionRequest(
        plan_id=PB, as_of="2026-06-30", known_at=stamp(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    )
    with pytest.raises(grpc.RpcError) as raised:
        audit(channel).GetInspection(request, timeout=TIMEOUT)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
