"""The rules of a task (nhiệm vụ), as given events / when command / then events or error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain import errors
from domain.agency import Agency
from domain.context import Context
from domain.deadlines import DeadlineKind
from domain.facts import Fact
from domain.ids import task_id
from domain.indicator import Indicator
from domain.items import ItemStatus, ObstacleKind, Quality
from domain.plan import Plan
from domain.task import Task
from tests.unit.given import (
    ALL_UNITS,
    DAY,
    HELPER,
    LEAD,
    MEMBER,
    OFFICE,
    PLAN,
    SECOND_LEAD,
    STABLE_CODES,
    STRANGER,
    assert_provenance,
    ctx,
    given,
    given_task,
    new_events,
    sha,
    then_not_created,
    then_refused,
    when,
)

DOC, OTHER_DOC, THIRD_DOC = sha("quyết định đã ký"), sha("ảnh sản phẩm"), sha("báo cáo")
PDF = "application/pdf"

TaskCommand = Callable[[Task], object]


# Commands, spelled once ------------------------------------------------------------


def progress(percent: Any, by: str = LEAD, **context: Any) -> TaskCommand:
    return lambda t: t.report_progress(ctx(by, **context), percent=percent, as_of=DAY)


def contribution(percent: Any, by: str = HELPER, **context: Any) -> TaskCommand:
    return lambda t: t.report_contribution(ctx(by, **context), percent=percent, as_of=DAY)


def correction(
    version: int, percent: Any, reason: str = "nhập nhầm số liệu", by: str = LEAD
) -> TaskCommand:
    return lambda t: t.correct_report(
        ctx(by), report_version=version, percent=percent, reason=reason
    )


def evidence(
    digest: str = DOC,
    by: str = LEAD,
    *,
    media_type: str = PDF,
    uri: str = "s3://evidence/qd-15.pdf",
    **context: Any,
) -> TaskCommand:
    return lambda t: t.submit_evidence(
        ctx(by, **context),
        sha256=digest,
        uri=uri,
        media_type=media_type,
        description="Quyết định số 15",
    )


def claim(*digests: str, by: str = LEAD) -> TaskCommand:
    return lambda t: t.claim_completion(ctx(by), evidence=list(digests), note="đã xong")


def accept(digest: str = DOC, by: str = OFFICE) -> TaskCommand:
    return lambda t: t.accept_evidence(
        ctx(by), sha256=digest, coordinator=OFFICE, quality=Quality.GOOD
    )


def reject(digest: str = DOC, by: str = OFFICE, reason: str = "chưa ký, đóng dấu") -> TaskCommand:
    return lambda t: t.reject_evidence(ctx(by), sha256=digest, coordinator=OFFICE, reason=reason)


def confirm(by: str = OFFICE) -> TaskCommand:
    return lambda t: t.confirm_completion(ctx(by), coordinator=OFFICE)


def move_deadline(
    deadline: str = "Quý II/2026",
    by: str = OFFICE,
    reason: str = "chờ nền tảng của tỉnh",
    document: str = "Công văn 123/UBND",
) -> TaskCommand:
    return lambda t: t.change_deadline(
        ctx(by), coordinator=OFFICE, deadline=deadline, reason=reason, document=document
    )


def obstacle(
    obstacle_id: str = "o1", by: str = LEAD, description: str = "thiếu quyền"
) -> TaskCommand:
    return lambda t: t.raise_obstacle(
        ctx(by), obstacle_id=obstacle_id, kind=ObstacleKind.BLOCKER, description=description
    )


def resolve(
    obstacle_id: str = "o1", by: str = OFFICE, resolution: str = "đã cấp quyền"
) -> TaskCommand:
    return lambda t: t.resolve_obstacle(
        ctx(by), obstacle_id=obstacle_id, coordinator=OFFICE, resolution=resolution
    )


def amend(changes: dict[str, Any], by: str = OFFICE, reason: str = "rà soát quý I") -> TaskCommand:
    return lambda t: t.amend(
        ctx(by), coordinator=OFFICE, changes=changes, reason=reason, document="KH 09 sửa đổi"
    )


def cancel(by: str = OFFICE, reason: str = "không còn phù hợp") -> TaskCommand:
    return lambda t: t.cancel(ctx(by), coordinator=OFFICE, reason=reason, document="QĐ 20")


def completed_task() -> Task:
    return given(given_task(), progress(100), evidence(), claim(DOC), accept(), confirm())


# Assignment ------------------------------------------------------------------------


def test_assigning_a_task_records_its_plan_key_and_definition() -> None:
    definition = {
        "text": "Liên thông",
        "lead": [LEAD],
        "coordinating": [HELPER],
        "deadline": "Quý I/2026",
    }
    task = Task.assign(
        ctx(OFFICE), id=task_id(PLAN, "1"), plan=PLAN, key="1", definition=definition
    )
    assert [type(e).__name__ for e in task.pending_events] == ["Assigned"]
    assert (task.plan, task.key, task.lead, task.coordinating) == (PLAN, "1", (LEAD,), (HELPER,))
    assert task.status is ItemStatus.NOT_STARTED
    assert task.status.label_vi == "Chưa triển khai"
    assert task.deadline.due == dt.date(2026, 3, 31)
    assert task.filed == task.definition == definition


def test_a_task_without_a_deadline_has_an_unspecified_one() -> None:
    assert given_task(deadline=None).deadline.kind is DeadlineKind.UNSPECIFIED


def test_assigning_refuses_fields_a_task_does_not_have() -> None:
    error = then_not_created(
        lambda: Task.assign(
            ctx(OFFICE),
            id=task_id(PLAN, "1"),
            plan=PLAN,
            key="1",
            definition={"lead": [LEAD], "owner": LEAD, "budget": 5},
        ),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )
    assert error.field == "budget"
    assert "budget, owner" in error.message


def test_assigning_refuses_a_deadline_it_cannot_read() -> None:
    then_not_created(
        lambda: given_task(deadline="khi nào xong"),
        errors.UnrecognisedDeadlineError,
        "DEADLINE_UNRECOGNISED",
    )


# Overall progress: the lead unit ---------------------------------------------------


def test_a_lead_unit_reports_overall_progress() -> None:
    task = given_task()
    assert when(task, progress(40)) == ["ProgressReported"]
    assert task.percent == 40
    assert task.status is ItemStatus.IN_PROGRESS
    assert task.status.label_vi == "Đang thực hiện"


def test_either_of_two_lead_units_reports_overall_progress() -> None:
    task = given_task(lead=[LEAD, SECOND_LEAD])
    assert when(task, progress(30, by=SECOND_LEAD)) == ["ProgressReported"]
    assert when(task, progress(40, by=LEAD)) == ["ProgressReported"]


@pytest.mark.parametrize("unit", [HELPER, STRANGER, OFFICE])
def test_a_unit_that_does_not_lead_may_not_report_overall_progress(unit: str) -> None:
    error = then_refused(
        given_task(), progress(40, by=unit), errors.NotLeadUnitError, "NOT_LEAD_UNIT"
    )
    assert error.field == "agency"
    assert unit in error.message


def test_a_member_of_a_collective_lead_may_report_overall_progress() -> None:
    task = given_task(lead=[ALL_UNITS])
    assert when(task, progress(40, by=MEMBER, acting_as=[ALL_UNITS])) == ["ProgressReported"]
    assert new_events(task)[0].actor == MEMBER


def test_a_member_of_some_other_collective_may_not_report_overall_progress() -> None:
    task = given_task(lead=[ALL_UNITS])
    then_refused(
        task,
        progress(40, by=MEMBER, acting_as=["phuoc-binh.schools"]),
        errors.NotLeadUnitError,
        "NOT_LEAD_UNIT",
    )


def test_a_coordinating_unit_reports_its_own_contribution() -> None:
    task = given_task()
    assert when(task, contribution(50)) == ["ContributionReported"]
    assert task.percent == 0, "a contribution is not overall progress"
    assert task.status is ItemStatus.IN_PROGRESS


def test_a_coordinating_unit_may_not_report_overall_progress() -> None:
    then_refused(given_task(), progress(50, by=HELPER), errors.NotLeadUnitError, "NOT_LEAD_UNIT")


def test_a_member_of_a_collective_coordinating_unit_reports_a_contribution() -> None:
    task = given_task(coordinating=[ALL_UNITS])
    assert when(task, contribution(20, by=MEMBER, acting_as=[ALL_UNITS])) == [
        "ContributionReported"
    ]


@pytest.mark.parametrize("unit", [STRANGER, OFFICE])
def test_a_unit_that_takes_no_part_may_not_report_a_contribution(unit: str) -> None:
    then_refused(
        given_task(), contribution(50, by=unit), errors.NotParticipantError, "NOT_PARTICIPANT"
    )


# Percent ---------------------------------------------------------------------------

BAD_PERCENTS = [-1, 101, 50.5, True, False, "50", None]


@pytest.mark.parametrize("percent", BAD_PERCENTS, ids=repr)
def test_overall_progress_is_a_whole_percent_from_0_to_100(percent: object) -> None:
    error = then_refused(
        given_task(), progress(percent), errors.PercentOutOfRangeError, "PERCENT_OUT_OF_RANGE"
    )
    assert error.field == "percent"


@pytest.mark.parametrize("percent", BAD_PERCENTS, ids=repr)
def test_a_contribution_is_a_whole_percent_from_0_to_100(percent: object) -> None:
    then_refused(
        given_task(), contribution(percent), errors.PercentOutOfRangeError, "PERCENT_OUT_OF_RANGE"
    )


@pytest.mark.parametrize("percent", BAD_PERCENTS, ids=repr)
def test_a_correction_is_a_whole_percent_from_0_to_100(percent: object) -> None:
    task = given(given_task(), progress(40))
    then_refused(
        task, correction(2, percent), errors.PercentOutOfRangeError, "PERCENT_OUT_OF_RANGE"
    )


@pytest.mark.parametrize("percent", [0, 1, 99, 100])
def test_the_bounds_and_everything_between_are_accepted(percent: int) -> None:
    task = given_task()
    assert when(task, progress(percent)) == ["ProgressReported"]
    assert task.percent == percent


# Progress never goes down, except through a correction -----------------------------


def test_progress_never_goes_down_without_a_correction() -> None:
    task = given(given_task(), progress(60))
    error = then_refused(
        task, progress(40), errors.ProgressDecreaseError, "PROGRESS_DECREASE_NEEDS_CORRECTION"
    )
    assert "60%" in error.message
    assert "40%" in error.message


def test_the_same_progress_may_be_reported_again() -> None:
    task = given(given_task(), progress(60))
    assert when(task, progress(60)) == ["ProgressReported"]


def test_a_correction_of_a_known_report_may_bring_progress_down() -> None:
    task = given(given_task(), progress(60))  # the report is version 2
    assert when(task, correction(2, 40)) == ["ReportCorrected"]
    assert task.percent == 40
    corrected = new_events(task)[0]
    assert isinstance(corrected, Task.ReportCorrected)
    assert (corrected.report_version, corrected.reason) == (2, "nhập nhầm số liệu")


def test_after_a_correction_progress_goes_on_from_the_corrected_value() -> None:
    task = given(given_task(), progress(60), correction(2, 40))
    assert when(task, progress(45)) == ["ProgressReported"]
    assert task.percent == 45


def test_correcting_an_older_report_leaves_the_latest_progress_as_it_is() -> None:
    task = given(given_task(), progress(40), progress(60))  # versions 2 and 3
    assert when(task, correction(2, 30)) == ["ReportCorrected"]
    assert task.percent == 60


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_needs_a_reason(reason: str) -> None:
    task = given(given_task(), progress(60))
    error = then_refused(
        task, correction(2, 40, reason=reason), errors.MissingReasonError, "REASON_REQUIRED"
    )
    assert error.field == "reason"


@pytest.mark.parametrize(
    "version",
    [1, 3, 99],
    ids=["the assignment", "a contribution", "nothing"],
)
def test_a_correction_must_name_a_known_progress_report(version: int) -> None:
    task = given(given_task(), progress(60), contribution(10))  # versions 2 and 3
    error = then_refused(task, correction(version, 40), errors.UnknownReportError, "REPORT_UNKNOWN")
    assert error.field == "report_version"


def test_only_a_lead_unit_corrects_a_report() -> None:
    task = given(given_task(), progress(60))
    then_refused(task, correction(2, 40, by=HELPER), errors.NotLeadUnitError, "NOT_LEAD_UNIT")


def test_a_correction_below_100_reopens_a_completed_task() -> None:
    task = given(given_task(), progress(100), evidence(), claim(DOC), accept(), confirm())
    assert when(task, correction(2, 90)) == ["ReportCorrected"]
    assert (task.status, task.percent, task.claim) == (ItemStatus.IN_PROGRESS, 90, ())


def test_correcting_an_older_report_keeps_a_completed_task_completed() -> None:
    task = given(
        given_task(), progress(40), progress(100), evidence(), claim(DOC), accept(), confirm()
    )
    assert task.status is ItemStatus.COMPLETED
    assert when(task, correction(2, 30)) == ["ReportCorrected"]
    assert task.percent == 100
    assert task.status is ItemStatus.COMPLETED


# Evidence --------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [LEAD, HELPER])
def test_a_participant_submits_evidence(unit: str) -> None:
    task = given_task()
    assert when(task, evidence(by=unit)) == ["EvidenceSubmitted"]
    stored = task.evidence[DOC]
    assert (stored.submitted_by, stored.media_type, stored.verdict) == (unit, PDF, None)


def test_a_unit_that_takes_no_part_may_not_submit_evidence() -> None:
    then_refused(given_task(), evidence(by=STRANGER), errors.NotParticipantError, "NOT_PARTICIPANT")


@pytest.mark.parametrize(
    "digest",
    ["abc", DOC.upper(), DOC[:-1], DOC + "0", "g" * 64, ""],
    ids=["short", "uppercase", "63 digits", "65 digits", "not hex", "empty"],
)
def test_evidence_with_a_bad_sha256_is_refused(digest: str) -> None:
    error = then_refused(given_task(), evidence(digest), errors.InvalidValueError, "INVALID_VALUE")
    assert error.field == "sha256"


@pytest.mark.parametrize("media_type", ["pdf", "Application/PDF", "", "application/", "image png"])
def test_evidence_with_a_bad_media_type_is_refused(media_type: str) -> None:
    error = then_refused(
        given_task(), evidence(media_type=media_type), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "media_type"


def test_evidence_without_a_uri_is_refused() -> None:
    error = then_refused(
        given_task(), evidence(uri="  "), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "uri"


def test_the_same_evidence_is_not_submitted_twice() -> None:
    task = given(given_task(), evidence(by=LEAD))
    error = then_refused(
        task, evidence(by=HELPER), errors.DuplicateEvidenceError, "EVIDENCE_DUPLICATE"
    )
    assert error.field == "sha256"


# Completion claim ------------------------------------------------------------------


def test_claiming_completion_without_evidence_is_refused() -> None:
    task = given(given_task(), progress(100))
    error = then_refused(task, claim(), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")
    assert error.field == "evidence"


def test_claiming_completion_with_evidence_never_submitted_is_refused() -> None:
    task = given(given_task(), evidence(DOC))
    then_refused(task, claim(DOC, OTHER_DOC), errors.UnknownEvidenceError, "EVIDENCE_UNKNOWN")


def test_a_claim_citing_submitted_evidence_puts_the_task_up_for_review() -> None:
    task = given(given_task(), progress(100), evidence())
    assert when(task, claim(DOC)) == ["CompletionClaimed"]
    assert task.status is ItemStatus.SUBMITTED
    assert task.status.label_vi == "Chờ thẩm định"
    assert task.claim == (DOC,)


def test_a_member_of_a_collective_lead_may_claim_completion() -> None:
    task = given(given_task(lead=[ALL_UNITS]), evidence(by=MEMBER, acting_as=[ALL_UNITS]))
    assert when(
        task, lambda t: t.claim_completion(ctx(MEMBER, acting_as=[ALL_UNITS]), evidence=[DOC])
    ) == ["CompletionClaimed"]


@pytest.mark.parametrize("unit", [HELPER, OFFICE, STRANGER])
def test_only_a_lead_unit_claims_completion(unit: str) -> None:
    task = given(given_task(), evidence())
    then_refused(task, claim(DOC, by=unit), errors.NotLeadUnitError, "NOT_LEAD_UNIT")


def test_a_task_already_up_for_review_is_not_claimed_again() -> None:
    task = given(given_task(), evidence(), evidence(OTHER_DOC), claim(DOC))
    then_refused(task, claim(OTHER_DOC), errors.ItemClosedError, "ITEM_CLOSED")


# Judging evidence ------------------------------------------------------------------


def test_the_coordination_office_accepts_evidence() -> None:
    task = given(given_task(), evidence())
    assert when(task, accept()) == ["EvidenceAccepted"]
    assert (task.evidence[DOC].verdict, task.evidence[DOC].quality) == ("accepted", Quality.GOOD)


def test_only_the_coordination_office_or_a_monitor_accepts_evidence() -> None:
    task = given(given_task(), evidence())
    then_refused(task, accept(by=STRANGER), errors.NotReviewerError, "NOT_REVIEWER")


def test_only_the_coordination_office_or_a_monitor_rejects_evidence() -> None:
    task = given(given_task(), evidence())
    then_refused(task, reject(by=STRANGER), errors.NotReviewerError, "NOT_REVIEWER")


def test_evidence_never_submitted_cannot_be_judged() -> None:
    then_refused(given_task(), accept(DOC), errors.UnknownEvidenceError, "EVIDENCE_UNKNOWN")
    then_refused(given_task(), reject(DOC), errors.UnknownEvidenceError, "EVIDENCE_UNKNOWN")


def test_evidence_is_judged_only_once() -> None:
    task = given(given_task(), evidence(), accept())
    then_refused(task, accept(), errors.EvidenceAlreadyJudgedError, "EVIDENCE_ALREADY_JUDGED")
    then_refused(task, reject(), errors.EvidenceAlreadyJudgedError, "EVIDENCE_ALREADY_JUDGED")


def test_rejected_evidence_returns_the_task_to_awaiting_completion() -> None:
    task = given(given_task(), progress(100), evidence(), claim(DOC))
    assert when(task, reject()) == ["EvidenceRejected", "ReturnedForCompletion"]
    assert task.status is ItemStatus.AWAITING_COMPLETION
    assert task.status.value == "awaiting_completion"
    assert task.status.label_vi == "Chờ hoàn thiện"
    assert task.claim == ()
    assert (task.evidence[DOC].verdict, task.evidence[DOC].quality) == ("rejected", Quality.LOW)
    rejected, returned = new_events(task)
    assert isinstance(rejected, Task.EvidenceRejected)
    assert isinstance(returned, Task.ReturnedForCompletion)
    assert rejected.reason == returned.reason == "chưa ký, đóng dấu"


@pytest.mark.parametrize("reason", ["", "  "])
def test_rejecting_evidence_needs_a_reason(reason: str) -> None:
    task = given(given_task(), evidence(), claim(DOC))
    then_refused(task, reject(reason=reason), errors.MissingReasonError, "REASON_REQUIRED")


def test_rejected_evidence_cannot_support_a_new_claim() -> None:
    task = given(given_task(), evidence(), claim(DOC), reject())
    error = then_refused(task, claim(DOC), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")
    assert "rejected" in error.message


def test_rejected_evidence_cannot_support_a_claim_alongside_good_evidence() -> None:
    task = given(given_task(), evidence(), claim(DOC), reject(), evidence(OTHER_DOC))
    then_refused(task, claim(OTHER_DOC, DOC), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")


def test_a_task_awaiting_completion_is_claimed_again_with_new_evidence() -> None:
    task = given(given_task(), evidence(), claim(DOC), reject(), evidence(OTHER_DOC))
    assert when(task, claim(OTHER_DOC)) == ["CompletionClaimed"]
    assert task.status is ItemStatus.SUBMITTED


# Confirming completion -------------------------------------------------------------


def test_confirmation_needs_a_pending_claim() -> None:
    task = given(given_task(), progress(100), evidence(), accept())
    then_refused(task, confirm(), errors.NoPendingClaimError, "NO_PENDING_COMPLETION_CLAIM")


def test_confirmation_needs_a_pending_claim_even_after_a_rejection() -> None:
    task = given(given_task(), evidence(), claim(DOC), reject())
    then_refused(task, confirm(), errors.NoPendingClaimError, "NO_PENDING_COMPLETION_CLAIM")


def test_confirmation_needs_an_accepted_evidence_cited_by_the_claim() -> None:
    task = given(given_task(), evidence(), claim(DOC))
    then_refused(task, confirm(), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")


def test_evidence_accepted_but_not_cited_does_not_confirm_a_claim() -> None:
    task = given(given_task(), evidence(), evidence(OTHER_DOC), claim(DOC), accept(OTHER_DOC))
    then_refused(task, confirm(), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")


def test_only_the_coordination_office_or_a_monitor_confirms_completion() -> None:
    task = given(given_task(), evidence(), claim(DOC), accept())
    then_refused(task, confirm(by=STRANGER), errors.NotReviewerError, "NOT_REVIEWER")


def test_a_claim_with_an_accepted_cited_evidence_is_confirmed() -> None:
    task = given(
        given_task(), progress(100), evidence(), evidence(OTHER_DOC), claim(DOC, OTHER_DOC)
    )
    given(task, accept(OTHER_DOC))
    assert when(task, confirm()) == ["CompletionConfirmed"]
    assert task.status is ItemStatus.COMPLETED
    assert task.status.label_vi == "Hoàn thành"


def test_a_completed_task_refuses_new_progress() -> None:
    then_refused(completed_task(), progress(100), errors.ItemClosedError, "ITEM_CLOSED")


def test_a_completed_task_refuses_a_new_claim() -> None:
    task = given(completed_task(), evidence(OTHER_DOC))
    then_refused(task, claim(OTHER_DOC), errors.ItemClosedError, "ITEM_CLOSED")


def test_a_completed_task_has_no_claim_to_confirm() -> None:
    then_refused(
        completed_task(), confirm(), errors.NoPendingClaimError, "NO_PENDING_COMPLETION_CLAIM"
    )


# Deadline --------------------------------------------------------------------------


def test_the_coordination_office_moves_the_deadline() -> None:
    task = given_task(deadline="Quý I/2026")
    assert when(task, move_deadline("Quý II/2026")) == ["DeadlineChanged"]
    assert task.deadline.due == dt.date(2026, 6, 30)
    assert task.deadline.text == "Quý II/2026"
    assert task.definition["deadline"] == "Quý II/2026"
    assert task.filed["deadline"] == "Quý I/2026", "the plan file still says what it said"
    changed = new_events(task)[0]
    assert isinstance(changed, Task.DeadlineChanged)
    assert (changed.reason, changed.document) == ("chờ nền tảng của tỉnh", "Công văn 123/UBND")


def test_moving_the_deadline_parses_the_new_wording() -> None:
    task = given_task()
    task.change_deadline(
        ctx(OFFICE), coordinator=OFFICE, deadline="trước ngày 15/02/2026", reason="r", document="CV"
    )
    assert task.deadline.due == dt.date(2026, 2, 14)
    assert task.deadline.text == "trước ngày 15/02/2026"


@pytest.mark.parametrize("unit", [LEAD, HELPER, STRANGER])
def test_only_the_coordination_office_moves_the_deadline(unit: str) -> None:
    error = then_refused(
        given_task(), move_deadline(by=unit), errors.NotCoordinatorError, "NOT_COORDINATOR"
    )
    assert OFFICE in error.message


@pytest.mark.parametrize("reason", ["", "  "])
def test_moving_the_deadline_needs_a_reason(reason: str) -> None:
    then_refused(
        given_task(), move_deadline(reason=reason), errors.MissingReasonError, "REASON_REQUIRED"
    )


@pytest.mark.parametrize("document", ["", "  "])
def test_moving_the_deadline_needs_the_authorising_document(document: str) -> None:
    error = then_refused(
        given_task(), move_deadline(document=document), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "document"


@pytest.mark.parametrize("wording", ["khi nào xong", "Quý V/2026", "31/02/2026", "asap"])
def test_a_deadline_wording_that_cannot_be_read_is_refused(wording: str) -> None:
    then_refused(
        given_task(),
        move_deadline(wording),
        errors.UnrecognisedDeadlineError,
        "DEADLINE_UNRECOGNISED",
    )


# Obstacles (khó khăn, vướng mắc) ----------------------------------------------------


@pytest.mark.parametrize("unit", [LEAD, HELPER])
def test_a_participant_raises_an_obstacle(unit: str) -> None:
    task = given_task()
    assert when(task, obstacle(by=unit)) == ["ObstacleRaised"]
    assert task.obstacles == {"o1": unit}


def test_a_unit_that_takes_no_part_may_not_raise_an_obstacle() -> None:
    then_refused(given_task(), obstacle(by=STRANGER), errors.NotParticipantError, "NOT_PARTICIPANT")


def test_an_obstacle_needs_a_description() -> None:
    error = then_refused(
        given_task(), obstacle(description=" "), errors.MissingReasonError, "REASON_REQUIRED"
    )
    assert error.field == "description"


def test_an_obstacle_id_is_raised_only_once() -> None:
    task = given(given_task(), obstacle("o1"))
    then_refused(task, obstacle("o1", by=HELPER), errors.InvalidValueError, "INVALID_VALUE")


@pytest.mark.parametrize("unit", [HELPER, OFFICE], ids=["the raiser", "the coordinator"])
def test_an_obstacle_is_resolved_by_its_raiser_or_the_coordination_office(unit: str) -> None:
    task = given(given_task(), obstacle(by=HELPER))
    assert when(task, resolve(by=unit)) == ["ObstacleResolved"]
    assert task.obstacles == {}


@pytest.mark.parametrize("unit", [LEAD, STRANGER])
def test_nobody_else_resolves_an_obstacle(unit: str) -> None:
    task = given(given_task(), obstacle(by=HELPER))
    then_refused(task, resolve(by=unit), errors.NotParticipantError, "NOT_PARTICIPANT")


def test_an_obstacle_never_raised_cannot_be_resolved() -> None:
    then_refused(given_task(), resolve("o9"), errors.UnknownObstacleError, "OBSTACLE_UNKNOWN")


def test_a_resolved_obstacle_cannot_be_resolved_again() -> None:
    task = given(given_task(), obstacle(), resolve())
    then_refused(task, resolve(), errors.UnknownObstacleError, "OBSTACLE_UNKNOWN")


def test_resolving_an_obstacle_needs_a_resolution() -> None:
    task = given(given_task(), obstacle())
    then_refused(task, resolve(resolution=""), errors.MissingReasonError, "REASON_REQUIRED")


# Group tasks and cancelled tasks ---------------------------------------------------

REPORTS: dict[str, TaskCommand] = {
    "progress": progress(10),
    "contribution": contribution(10),
    "correction": correction(2, 10),
    "evidence": evidence(),
    "claim": claim(DOC),
    "obstacle": obstacle(),
    "deadline": move_deadline(),
}


@pytest.mark.parametrize("command", list(REPORTS.values()), ids=list(REPORTS))
def test_a_group_task_refuses_reports(command: TaskCommand) -> None:
    error = then_refused(
        given_task(group=True), command, errors.GroupItemError, "GROUP_ITEM_NOT_REPORTABLE"
    )
    assert "II.6" in error.message


def test_the_coordination_office_cancels_a_task() -> None:
    task = given_task()
    assert when(task, cancel()) == ["Cancelled"]
    assert task.status is ItemStatus.CANCELLED
    assert task.status.label_vi == "Đã hủy"


def test_cancelling_a_cancelled_task_records_nothing() -> None:
    task = given(given_task(), cancel())
    assert when(task, cancel()) == []


def test_only_the_coordination_office_cancels_a_task() -> None:
    then_refused(given_task(), cancel(by=LEAD), errors.NotCoordinatorError, "NOT_COORDINATOR")


def test_cancelling_a_task_needs_a_reason() -> None:
    then_refused(given_task(), cancel(reason=" "), errors.MissingReasonError, "REASON_REQUIRED")


@pytest.mark.parametrize("command", list(REPORTS.values()), ids=list(REPORTS))
def test_a_cancelled_task_refuses_reports(command: TaskCommand) -> None:
    task = given(given_task(), progress(40), cancel())
    then_refused(task, command, errors.ItemClosedError, "ITEM_CLOSED")


def test_a_cancelled_task_refuses_judging_evidence() -> None:
    task = given(given_task(), evidence(), claim(DOC), cancel())
    then_refused(task, accept(), errors.ItemClosedError, "ITEM_CLOSED")
    then_refused(task, confirm(), errors.ItemClosedError, "ITEM_CLOSED")


# Amendment -------------------------------------------------------------------------


def test_the_coordination_office_amends_a_task() -> None:
    task = given_task()
    assert when(task, amend({"lead": [SECOND_LEAD], "note": "đổi đơn vị chủ trì"})) == ["Amended"]
    assert task.lead == (SECOND_LEAD,)
    assert task.definition["note"] == task.filed["note"] == "đổi đơn vị chủ trì"


def test_after_an_amendment_the_new_lead_reports_and_the_old_does_not() -> None:
    task = given(given_task(), amend({"lead": [SECOND_LEAD]}))
    assert when(task, progress(10, by=SECOND_LEAD)) == ["ProgressReported"]
    task.collect_events()
    then_refused(task, progress(20, by=LEAD), errors.NotLeadUnitError, "NOT_LEAD_UNIT")


def test_an_amendment_that_empties_a_field_drops_it() -> None:
    task = given(given_task(note="ghi chú"), amend({"note": None}))
    assert "note" not in task.definition
    assert "note" not in task.filed


def test_an_amendment_without_changes_records_nothing() -> None:
    assert when(given_task(), amend({})) == []


def test_an_amendment_needs_a_reason() -> None:
    then_refused(
        given_task(), amend({"note": "x"}, reason=""), errors.MissingReasonError, "REASON_REQUIRED"
    )


@pytest.mark.parametrize("unit", [LEAD, HELPER, STRANGER])
def test_only_the_coordination_office_amends_a_task(unit: str) -> None:
    then_refused(
        given_task(), amend({"note": "x"}, by=unit), errors.NotCoordinatorError, "NOT_COORDINATOR"
    )


def test_an_amendment_refuses_fields_a_task_does_not_have() -> None:
    then_refused(given_task(), amend({"owner": LEAD}), errors.InvalidValueError, "INVALID_VALUE")


def test_an_amendment_with_an_unreadable_deadline_is_refused_and_changes_nothing() -> None:
    then_refused(
        given_task(),
        amend({"deadline": "khi nào xong"}),
        errors.UnrecognisedDeadlineError,
        "DEADLINE_UNRECOGNISED",
    )


# Provenance ------------------------------------------------------------------------


def test_every_kind_of_task_event_carries_its_provenance() -> None:
    """One event of each kind, each from a context of its own."""
    contexts: list[Context] = []

    def by(agency: str, **kwargs: Any) -> Context:
        day = f"2026-03-{len(contexts) + 1:02d}"
        context = ctx(agency, day=day, person=f"Cán bộ {len(contexts)}", channel="api", **kwargs)
        contexts.append(context)
        return context

    task = Task.assign(
        by(OFFICE),
        id=task_id(PLAN, "1"),
        plan=PLAN,
        key="1",
        definition={"lead": [ALL_UNITS], "coordinating": [HELPER], "deadline": "Quý I/2026"},
    )
    task.report_progress(by(MEMBER, acting_as=[ALL_UNITS]), percent=40, as_of=DAY)
    task.report_contribution(by(HELPER), percent=50, as_of=DAY)
    task.correct_report(by(MEMBER, acting_as=[ALL_UNITS]), report_version=2, percent=30, reason="r")
    task.change_deadline(
        by(OFFICE), coordinator=OFFICE, deadline="Quý II/2026", reason="r", document="d"
    )
    task.raise_obstacle(by(HELPER), obstacle_id="o", kind=ObstacleKind.DIFFICULTY, description="d")
    task.resolve_obstacle(by(OFFICE), obstacle_id="o", coordinator=OFFICE, resolution="r")
    for digest in (DOC, OTHER_DOC):
        task.submit_evidence(
            by(HELPER), sha256=digest, uri="s3://e/u", media_type=PDF, description=""
        )
    task.claim_completion(by(MEMBER, acting_as=[ALL_UNITS]), evidence=[DOC])
    task.reject_evidence(by(OFFICE), sha256=DOC, coordinator=OFFICE, reason="r")  # two events
    contexts.append(contexts[-1])
    task.claim_completion(by(MEMBER, acting_as=[ALL_UNITS]), evidence=[OTHER_DOC])
    task.accept_evidence(by(OFFICE), sha256=OTHER_DOC, coordinator=OFFICE, quality=Quality.ADEQUATE)
    task.confirm_completion(by(OFFICE), coordinator=OFFICE)
    task.amend(by(OFFICE), coordinator=OFFICE, changes={"note": "n"}, reason="r", document="d")
    task.cancel(by(OFFICE), coordinator=OFFICE, reason="r", document="d")

    events = new_events(task)
    assert len(events) == len(contexts)
    for event, context in zip(events, contexts, strict=True):
        assert_provenance(event, context)
    kinds = {topic_of(type(e)) for e in events}
    assert kinds == TOPICS_OF[Task] - {"lienthong.task.Created"}


# Stable topics and versions --------------------------------------------------------

TOPICS_OF: dict[type, set[str]] = {
    Task: {
        "lienthong.task.Created",
        "lienthong.task.Assigned",
        "lienthong.task.ProgressReported",
        "lienthong.task.ContributionReported",
        "lienthong.task.ReportCorrected",
        "lienthong.task.DeadlineChanged",
        "lienthong.task.EvidenceSubmitted",
        "lienthong.task.EvidenceAccepted",
        "lienthong.task.EvidenceRejected",
        "lienthong.task.ReturnedForCompletion",
        "lienthong.task.CompletionClaimed",
        "lienthong.task.CompletionConfirmed",
        "lienthong.task.ObstacleRaised",
        "lienthong.task.ObstacleResolved",
        "lienthong.task.Amended",
        "lienthong.task.Cancelled",
    },
    Indicator: {
        "lienthong.indicator.Created",
        "lienthong.indicator.Defined",
        "lienthong.indicator.Measured",
        "lienthong.indicator.MeasurementCorrected",
        "lienthong.indicator.EvidenceSubmitted",
        "lienthong.indicator.EvidenceAccepted",
        "lienthong.indicator.EvidenceRejected",
        "lienthong.indicator.ReturnedForCompletion",
        "lienthong.indicator.CompletionClaimed",
        "lienthong.indicator.CompletionConfirmed",
        "lienthong.indicator.ObstacleRaised",
        "lienthong.indicator.ObstacleResolved",
        "lienthong.indicator.Amended",
        "lienthong.indicator.Cancelled",
    },
    Plan: {
        "lienthong.plan.Created",
        "lienthong.plan.Issued",
        "lienthong.plan.Amended",
        "lienthong.plan.DependencyDeclared",
        "lienthong.plan.DependencyWithdrawn",
    },
    Agency: {
        "lienthong.agency.Created",
        "lienthong.agency.Registered",
        "lienthong.agency.ProfileChanged",
    },
}
AGGREGATE_TOPICS: dict[type, str] = {
    Task: "lienthong.Task",
    Indicator: "lienthong.Indicator",
    Plan: "lienthong.Plan",
    Agency: "lienthong.Agency",
}


def topic_of(cls: type) -> str:
    """The explicit topic an event class is stored under ("" when it has none)."""
    return str(getattr(cls, "TOPIC", "") or "")


def event_classes_of(aggregate: type) -> list[type[CanMutateAggregate[Any]]]:
    """Every event class reachable from the aggregate class that has a topic."""
    found = []
    for name in dir(aggregate):
        value = getattr(aggregate, name)
        if isinstance(value, type) and issubclass(value, CanMutateAggregate) and topic_of(value):
            found.append(value)
    return found


@pytest.mark.parametrize("aggregate", list(TOPICS_OF), ids=lambda a: a.__name__)
def test_every_event_class_is_stored_under_its_published_topic(aggregate: type) -> None:
    classes = event_classes_of(aggregate)
    topics = [topic_of(cls) for cls in classes]
    assert len(topics) == len(set(topics)), "two event classes share a topic"
    assert set(topics) == TOPICS_OF[aggregate]
    for cls in classes:
        assert get_topic(cls) == topic_of(cls)
        assert resolve_topic(topic_of(cls)) is cls
        assert topic_of(cls).startswith("lienthong.")


@pytest.mark.parametrize("aggregate", list(TOPICS_OF), ids=lambda a: a.__name__)
def test_every_recorded_event_class_is_a_fact_with_a_class_version(aggregate: type) -> None:
    for cls in event_classes_of(aggregate):
        topic = topic_of(cls)
        if topic.endswith(".Created"):
            # The library's base of the creation event: never recorded itself.
            assert not issubclass(cls, Fact)
            continue
        assert issubclass(cls, Fact), topic
        version = getattr(cls, "class_version", None)
        assert isinstance(version, int), topic
        assert version == 1, f"{topic}: record a sample and add an upcaster first"


@pytest.mark.parametrize("aggregate", list(TOPICS_OF), ids=lambda a: a.__name__)
def test_every_aggregate_is_stored_under_its_published_topic(aggregate: type) -> None:
    assert get_topic(aggregate) == AGGREGATE_TOPICS[aggregate]


# Error codes -----------------------------------------------------------------------


def all_error_classes(base: type[errors.DomainError]) -> set[type[errors.DomainError]]:
    found = {base}
    for sub in base.__subclasses__():
        found |= all_error_classes(sub)
    return found


def test_every_domain_error_keeps_the_code_it_was_published_with() -> None:
    classes = {
        cls for cls in all_error_classes(errors.DomainError) if cls.__module__ == "domain.errors"
    }
    assert {cls: cls.code for cls in classes} == STABLE_CODES
    assert len(set(STABLE_CODES.values())) == len(STABLE_CODES), "two errors share a code"
    for cls in classes:
        assert cls.kind in {"invalid", "forbidden", "precondition", "not_found", "conflict"}


def test_completion_confirmed_after_midnight_in_the_ward_is_completed_on_the_wards_day() -> None:
    task = given(given_task(), progress(100), evidence(), claim(DOC), accept())
    late_night = dt.datetime(2026, 6, 30, 20, 0, tzinfo=dt.UTC)  # 03:00 on 1 July in the ward
    confirming = replace(ctx(OFFICE, day="2026-07-01"), occurred_at=late_night)
    task.confirm_completion(confirming, coordinator=OFFICE)
    assert task.completed_on == dt.date(2026, 7, 1)


# 100% is not done: no back door around the evidence rule ---------------------------


def test_a_task_reported_at_100_awaits_evidence_and_is_not_done() -> None:
    task = given(given_task(), progress(100))
    assert (task.status, task.status.label_vi) == (ItemStatus.AWAITING_EVIDENCE, "Chờ minh chứng")
    assert not task.status.is_closed, "its flags still apply: the task stays open"
    assert task.completed_on is None


def test_a_task_awaiting_evidence_is_done_only_once_a_claim_with_evidence_is_confirmed() -> None:
    task = given(given_task(), progress(100), evidence())
    then_refused(task, confirm(), errors.NoPendingClaimError, "NO_PENDING_COMPLETION_CLAIM")
    given(task, claim(DOC))
    assert task.status is ItemStatus.SUBMITTED
    given(task, accept(), confirm())
    assert task.status is ItemStatus.COMPLETED


def test_a_task_awaiting_evidence_corrected_below_100_is_back_in_progress() -> None:
    task = given(given_task(), progress(100))
    assert when(task, correction(2, 80)) == ["ReportCorrected"]
    assert task.status is ItemStatus.IN_PROGRESS
    assert when(task, correction(2, 100)) == ["ReportCorrected"]
    assert task.status is ItemStatus.AWAITING_EVIDENCE


def test_a_task_sent_back_for_completion_stays_there_when_reported_at_100() -> None:
    task = given(given_task(), progress(90), evidence(), claim(DOC), reject())
    assert when(task, progress(100)) == ["ProgressReported"]
    assert (task.status, task.status.label_vi) == (ItemStatus.AWAITING_COMPLETION, "Chờ hoàn thiện")


def test_a_correction_below_100_forgets_the_day_completion_was_confirmed() -> None:
    task = completed_task()
    assert task.completed_on is not None
    given(task, correction(2, 90))
    assert (task.status, task.completed_on) == (ItemStatus.IN_PROGRESS, None)
