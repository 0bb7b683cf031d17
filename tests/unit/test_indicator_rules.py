"""The rules of an indicator (chỉ tiêu, KPI), as given events / when command / then events
or error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from domain import errors
from domain.context import Context
from domain.ids import indicator_id
from domain.indicator import Indicator
from domain.items import ItemStatus, ObstacleKind, Quality
from domain.units import UnitKind
from tests.unit.given import (
    ALL_UNITS,
    DAY,
    HELPER,
    LEAD,
    MEMBER,
    MONITOR,
    OFFICE,
    PLAN,
    STRANGER,
    assert_provenance,
    ctx,
    given,
    given_indicator,
    given_measured_indicator,
    new_events,
    sha,
    then_not_created,
    then_refused,
    when,
)

DOC, OTHER_DOC = sha("ảnh chụp màn hình VNeID"), sha("báo cáo công an phường")
PNG = "image/png"
LEVEL: dict[str, Any] = {"unit": "Thứ bậc", "targets": [{"period": "2026", "value": "Mức Khá"}]}

IndicatorCommand = Callable[[Indicator], object]


def measure(
    value: str = "71", unit: str = "%", period: str = "2026-Q1", by: str = LEAD, **context: Any
) -> IndicatorCommand:
    return lambda i: i.record_measurement(
        ctx(by, **context), value=value, unit=unit, period=period, as_of=DAY
    )


def correct(
    version: int, value: str = "72", unit: str = "%", reason: str = "nhập nhầm", by: str = LEAD
) -> IndicatorCommand:
    return lambda i: i.correct_measurement(
        ctx(by), measurement_version=version, value=value, unit=unit, reason=reason
    )


def evidence(digest: str = DOC, by: str = LEAD) -> IndicatorCommand:
    return lambda i: i.submit_evidence(
        ctx(by), sha256=digest, uri="s3://evidence/vneid.png", media_type=PNG, description=""
    )


def claim(*digests: str, by: str = LEAD) -> IndicatorCommand:
    return lambda i: i.claim_completion(ctx(by), evidence=list(digests))


def accept(digest: str = DOC, by: str = MONITOR) -> IndicatorCommand:
    return lambda i: i.accept_evidence(
        ctx(by), sha256=digest, coordinator=OFFICE, quality=Quality.ADEQUATE
    )


def reject(digest: str = DOC, by: str = MONITOR) -> IndicatorCommand:
    return lambda i: i.reject_evidence(ctx(by), sha256=digest, coordinator=OFFICE, reason="mờ")


def confirm(by: str = MONITOR) -> IndicatorCommand:
    return lambda i: i.confirm_completion(ctx(by), coordinator=OFFICE)


# Definition ------------------------------------------------------------------------


def test_defining_an_indicator_reads_its_unit_and_targets() -> None:
    indicator = given_indicator()
    assert indicator.unit is not None
    assert indicator.unit.kind is UnitKind.PERCENT
    assert set(indicator.targets) == {"2026"}
    assert (indicator.lead, indicator.monitor) == ((LEAD,), (MONITOR,))
    assert indicator.status is ItemStatus.NOT_STARTED


def test_defining_an_indicator_records_one_defined_event() -> None:
    indicator = Indicator.define(
        ctx(OFFICE),
        id=indicator_id(PLAN, "1"),
        plan=PLAN,
        key="1",
        definition={"name": "DTI", **LEVEL, "lead": [LEAD]},
    )
    assert [type(e).__name__ for e in indicator.pending_events] == ["Defined"]
    assert indicator.filed == indicator.definition


def test_defining_refuses_fields_an_indicator_does_not_have() -> None:
    error = then_not_created(
        lambda: given_indicator(target="≥ 80%"), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "target"


def test_defining_refuses_a_unit_it_cannot_read() -> None:
    then_not_created(
        lambda: given_indicator(unit="12!"), errors.UnrecognisedUnitError, "UNIT_UNRECOGNISED"
    )


def test_a_target_it_cannot_read_is_kept_as_printed_and_not_machine_judged() -> None:
    wording = "Đảm bảo khả năng 6G >30%"
    indicator = given_indicator(targets=[{"period": "2026", "value": wording}])
    target = indicator.targets["2026"]
    assert target.text == wording
    assert target.comparator.value == "review"
    assert target.machine_judged is False


def test_a_qualitative_indicator_needs_no_unit_and_is_not_measured() -> None:
    indicator = given_indicator(unit=None, targets=[{"period": "2026", "value": "X"}])
    assert indicator.qualitative
    assert indicator.target_met()[0]


def test_defining_refuses_a_target_period_that_is_no_period() -> None:
    error = then_not_created(
        lambda: given_indicator(targets=[{"period": "Q1-2026", "value": "≥ 80%"}]),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )
    assert error.field == "targets.period"


def test_defining_refuses_two_targets_for_one_period() -> None:
    twice = [{"period": "2026", "value": "≥ 80%"}, {"period": "2026", "value": "≥ 90%"}]
    error = then_not_created(
        lambda: given_indicator(targets=twice), errors.DuplicateTargetError, "TARGET_DUPLICATE"
    )
    assert error.field == "targets.period"
    assert "'≥ 80%' and '≥ 90%'" in str(error)


# Who measures ----------------------------------------------------------------------


@pytest.mark.parametrize("unit", [LEAD, MONITOR], ids=["the lead", "the monitor"])
def test_the_lead_or_the_monitor_records_a_measurement(unit: str) -> None:
    indicator = given_indicator()
    assert when(indicator, measure("71", by=unit)) == ["Measured"]
    assert indicator.latest("2026-Q1") == "71"
    assert indicator.status is ItemStatus.IN_PROGRESS


def test_a_member_of_a_collective_lead_records_a_measurement() -> None:
    indicator = given_indicator(lead=[ALL_UNITS])
    assert when(indicator, measure(by=MEMBER, acting_as=[ALL_UNITS])) == ["Measured"]


@pytest.mark.parametrize("unit", [HELPER, STRANGER, OFFICE])
def test_nobody_else_records_a_measurement(unit: str) -> None:
    error = then_refused(
        given_indicator(), measure(by=unit), errors.NotLeadUnitError, "NOT_LEAD_UNIT"
    )
    assert error.field == "agency"


# The measured value ----------------------------------------------------------------


@pytest.mark.parametrize("unit", ["Thứ bậc", "Công trình", "% ngân sách", "Chỉ số"])
def test_a_measurement_in_another_unit_is_refused(unit: str) -> None:
    then_refused(
        given_indicator(), measure("3", unit=unit), errors.UnitMismatchError, "UNIT_MISMATCH"
    )


@pytest.mark.parametrize("unit", ["%", "Tỷ lệ (%)", "phần trăm"])
def test_a_measurement_in_the_same_unit_however_worded_is_accepted(unit: str) -> None:
    assert when(given_indicator(), measure("71", unit=unit)) == ["Measured"]


def test_a_measurement_in_a_unit_that_cannot_be_read_is_refused() -> None:
    then_refused(
        given_indicator(),
        measure("3", unit="12!"),
        errors.UnrecognisedUnitError,
        "UNIT_UNRECOGNISED",
    )


@pytest.mark.parametrize("value", ["nhiều", "-5", "", "NaN"])
def test_a_numeric_indicator_refuses_a_value_that_is_no_non_negative_number(value: str) -> None:
    error = then_refused(
        given_indicator(),
        measure(value),
        errors.UnrecognisedMeasurementError,
        "MEASUREMENT_UNRECOGNISED",
    )
    assert error.field == "value"


@pytest.mark.parametrize(("value", "stored"), [("71,5", "71.5"), ("80%", "80"), ("0", "0")])
def test_a_numeric_value_is_stored_as_a_plain_number(value: str, stored: str) -> None:
    indicator = given(given_indicator(), measure(value, period="2026"))
    assert indicator.latest("2026") == stored


@pytest.mark.parametrize("value", ["Tốt", "Khá", "Mức Xuất sắc", "tốt"])
def test_a_level_indicator_accepts_a_level(value: str) -> None:
    indicator = given_indicator(**LEVEL)
    assert when(indicator, measure(value, unit="Thứ bậc", period="2026")) == ["Measured"]
    assert indicator.latest("2026") == value


@pytest.mark.parametrize("value", ["42", "Giỏi", ""])
def test_a_level_indicator_refuses_a_value_that_names_no_level(value: str) -> None:
    then_refused(
        given_indicator(**LEVEL),
        measure(value, unit="Thứ bậc", period="2026"),
        errors.InvalidValueError,
        exact=False,
    )


def test_a_refused_level_measurement_names_the_value_not_the_target() -> None:
    error = then_refused(
        given_indicator(**LEVEL),
        measure("42", unit="Thứ bậc", period="2026"),
        errors.InvalidValueError,
        exact=False,
    )
    assert error.code != "TARGET_UNRECOGNISED"
    assert error.field == "value"


@pytest.mark.parametrize(
    "period", ["2026", "2026-Q1", "2026-Q4", "2026-H1", "2026-H2", "2026-03", "2026-12"]
)
def test_a_measurement_is_for_a_year_or_a_period_of_one(period: str) -> None:
    assert when(given_indicator(), measure(period=period)) == ["Measured"]


@pytest.mark.parametrize("period", ["Q1-2026", "2026-Q5", "2026-H3", "2026-13", "2026-3", "26", ""])
def test_a_measurement_for_something_that_is_no_period_is_refused(period: str) -> None:
    error = then_refused(
        given_indicator(), measure(period=period), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "period"


def test_a_group_indicator_refuses_measurements() -> None:
    group = given_indicator(group=True, unit=None, targets=[])
    then_refused(group, measure(), errors.GroupItemError, "GROUP_ITEM_NOT_REPORTABLE")


def test_an_indicator_without_a_unit_is_refused_by_a_domain_rule() -> None:
    try:
        indicator = given_indicator(unit=None, targets=[])
    except errors.InvalidValueError:
        return  # refused when defined: the rule holds
    with pytest.raises(errors.DomainError):
        indicator.record_measurement(ctx(LEAD), value="5", unit="%", period="2026", as_of=DAY)


# Corrections -----------------------------------------------------------------------


def test_a_correction_changes_the_measurement_it_points_at() -> None:
    indicator = given(given_indicator(), measure("71"))  # version 2
    assert when(indicator, correct(2, "17")) == ["MeasurementCorrected"]
    assert indicator.latest("2026-Q1") == "17"
    assert indicator.measurements[2] == ("2026-Q1", "17")


def test_latest_reflects_corrections_of_the_latest_measurement_only() -> None:
    indicator = given(
        given_indicator(),
        measure("71", period="2026-Q1"),  # version 2
        measure("75", period="2026-Q1"),  # version 3
        measure("40", period="2026-Q2"),  # version 4
    )
    assert indicator.latest("2026-Q1") == "75"
    given(indicator, correct(3, "74"))
    assert indicator.latest("2026-Q1") == "74"
    given(indicator, correct(2, "70"))
    assert indicator.latest("2026-Q1") == "74", "an older measurement does not become the latest"
    assert indicator.latest("2026-Q2") == "40"
    assert indicator.latest("2026-Q3") is None


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_needs_a_reason(reason: str) -> None:
    indicator = given(given_indicator(), measure())
    error = then_refused(
        indicator, correct(2, reason=reason), errors.MissingReasonError, "REASON_REQUIRED"
    )
    assert error.field == "reason"


@pytest.mark.parametrize("version", [1, 3, 99], ids=["the definition", "evidence", "nothing"])
def test_a_correction_must_name_a_known_measurement(version: int) -> None:
    indicator = given(given_indicator(), measure(), evidence())  # versions 2 and 3
    error = then_refused(indicator, correct(version), errors.UnknownReportError, "REPORT_UNKNOWN")
    assert error.field == "measurement_version"


def test_a_correction_keeps_to_the_indicator_unit() -> None:
    indicator = given(given_indicator(), measure())
    then_refused(
        indicator, correct(2, "3", unit="Công trình"), errors.UnitMismatchError, "UNIT_MISMATCH"
    )


@pytest.mark.parametrize("unit", [HELPER, STRANGER, OFFICE])
def test_only_the_lead_or_the_monitor_corrects_a_measurement(unit: str) -> None:
    indicator = given(given_indicator(), measure())
    then_refused(indicator, correct(2, by=unit), errors.NotLeadUnitError, "NOT_LEAD_UNIT")


# Evidence and completion hold for indicators too ------------------------------------


@pytest.mark.parametrize("unit", [LEAD, MONITOR], ids=["the lead", "the monitor"])
def test_the_lead_or_the_monitor_claims_completion(unit: str) -> None:
    indicator = given(given_measured_indicator(), evidence(by=unit))
    assert when(indicator, claim(DOC, by=unit)) == ["CompletionClaimed"]
    assert indicator.status is ItemStatus.SUBMITTED


@pytest.mark.parametrize("unit", [HELPER, STRANGER, OFFICE])
def test_nobody_else_claims_completion(unit: str) -> None:
    indicator = given(given_indicator(), evidence())
    then_refused(indicator, claim(DOC, by=unit), errors.NotLeadUnitError, "NOT_LEAD_UNIT")


def test_a_unit_that_takes_no_part_may_not_submit_evidence_for_an_indicator() -> None:
    then_refused(
        given_indicator(), evidence(by=STRANGER), errors.NotParticipantError, "NOT_PARTICIPANT"
    )


def test_claiming_an_indicator_complete_needs_evidence() -> None:
    then_refused(given_indicator(), claim(), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")
    then_refused(given_indicator(), claim(DOC), errors.UnknownEvidenceError, "EVIDENCE_UNKNOWN")


@pytest.mark.parametrize("unit", [MONITOR, OFFICE], ids=["the monitor", "the coordinator"])
def test_the_monitor_or_the_coordination_office_judges_indicator_evidence(unit: str) -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC))
    assert when(indicator, accept(by=unit)) == ["EvidenceAccepted"]
    assert when(indicator, confirm(by=unit)) == ["CompletionConfirmed"]
    assert indicator.status is ItemStatus.COMPLETED


@pytest.mark.parametrize("unit", [HELPER, STRANGER])
def test_nobody_else_judges_indicator_evidence(unit: str) -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC))
    then_refused(indicator, accept(by=unit), errors.NotReviewerError, "NOT_REVIEWER")
    then_refused(indicator, reject(by=unit), errors.NotReviewerError, "NOT_REVIEWER")
    then_refused(indicator, confirm(by=unit), errors.NotReviewerError, "NOT_REVIEWER")


def test_rejected_indicator_evidence_returns_it_to_awaiting_completion() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC))
    assert when(indicator, reject()) == ["EvidenceRejected", "ReturnedForCompletion"]
    assert indicator.status is ItemStatus.AWAITING_COMPLETION
    assert indicator.status.label_vi == "Chờ hoàn thiện"


def test_rejected_indicator_evidence_cannot_support_a_new_claim() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC), reject())
    then_refused(indicator, claim(DOC), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")


def test_confirming_an_indicator_needs_a_pending_claim_and_accepted_evidence() -> None:
    indicator = given(given_measured_indicator(), evidence())
    then_refused(indicator, confirm(), errors.NoPendingClaimError, "NO_PENDING_COMPLETION_CLAIM")
    given(indicator, claim(DOC))
    then_refused(indicator, confirm(), errors.EvidenceRequiredError, "EVIDENCE_REQUIRED")


def test_a_cancelled_indicator_refuses_measurements() -> None:
    indicator = given(
        given_indicator(),
        lambda i: i.cancel(ctx(OFFICE), coordinator=OFFICE, reason="bỏ chỉ tiêu", document="QĐ"),
    )
    then_refused(indicator, measure(), errors.ItemClosedError, "ITEM_CLOSED")


def test_an_amended_unit_applies_to_later_measurements() -> None:
    indicator = given(
        given_indicator(),
        lambda i: i.amend(
            ctx(OFFICE), coordinator=OFFICE, changes=LEVEL, reason="đổi cách đo", document="KH sửa"
        ),
    )
    assert when(indicator, measure("Tốt", unit="Thứ bậc", period="2026")) == ["Measured"]
    indicator.collect_events()
    then_refused(indicator, measure("71"), errors.UnitMismatchError, "UNIT_MISMATCH")


def test_an_amendment_with_an_unreadable_unit_is_refused_and_changes_nothing() -> None:
    then_refused(
        given_indicator(),
        lambda i: i.amend(
            ctx(OFFICE), coordinator=OFFICE, changes={"unit": "12!"}, reason="r", document="d"
        ),
        errors.UnrecognisedUnitError,
        "UNIT_UNRECOGNISED",
    )


# Provenance ------------------------------------------------------------------------


def test_every_kind_of_indicator_event_carries_its_provenance() -> None:
    contexts: list[Context] = []

    def by(agency: str) -> Context:
        context = ctx(agency, day=f"2026-04-{len(contexts) + 1:02d}", person=None, channel="grpc")
        contexts.append(context)
        return context

    indicator = Indicator.define(
        by(OFFICE),
        id=indicator_id(PLAN, "6"),
        plan=PLAN,
        key="6",
        definition={
            "name": "Phủ sóng 5G",
            "unit": "%",
            "targets": [{"period": "2026", "value": "≥ 60%"}],
            "lead": [LEAD],
            "monitor": [MONITOR],
        },
    )
    indicator.record_measurement(by(MONITOR), value="60", unit="%", period="2026", as_of=DAY)
    indicator.correct_measurement(by(LEAD), measurement_version=2, value="61", unit="%", reason="r")
    indicator.raise_obstacle(by(LEAD), obstacle_id="o", kind=ObstacleKind.BLOCKER, description="d")
    indicator.resolve_obstacle(by(LEAD), obstacle_id="o", coordinator=OFFICE, resolution="r")
    for author, digest in ((MONITOR, DOC), (LEAD, OTHER_DOC)):
        indicator.submit_evidence(
            by(author), sha256=digest, uri="s3://e/u", media_type=PNG, description=""
        )
    indicator.claim_completion(by(MONITOR), evidence=[DOC])
    indicator.reject_evidence(by(OFFICE), sha256=DOC, coordinator=OFFICE, reason="r")
    contexts.append(contexts[-1])  # the rejection records two events
    indicator.claim_completion(by(LEAD), evidence=[OTHER_DOC])
    indicator.accept_evidence(
        by(MONITOR), sha256=OTHER_DOC, coordinator=OFFICE, quality=Quality.GOOD
    )
    indicator.confirm_completion(by(OFFICE), coordinator=OFFICE)
    indicator.amend(by(OFFICE), coordinator=OFFICE, changes={"note": "n"}, reason="r", document="d")
    indicator.cancel(by(OFFICE), coordinator=OFFICE, reason="r", document="d")

    events = new_events(indicator)
    for event, context in zip(events, contexts, strict=True):
        assert_provenance(event, context)
    names = {type(e).__name__ for e in events}
    assert names == {
        "Defined",
        "Measured",
        "MeasurementCorrected",
        "ObstacleRaised",
        "ObstacleResolved",
        "EvidenceSubmitted",
        "CompletionClaimed",
        "EvidenceRejected",
        "ReturnedForCompletion",
        "EvidenceAccepted",
        "CompletionConfirmed",
        "Amended",
        "Cancelled",
    }
    assert all(e.occurred_at < e.recorded_at for e in events)
    assert events[0].recorded_at == dt.datetime(
        2026, 4, 1, 9, 5, tzinfo=events[0].occurred_at.tzinfo
    )


# "Hoàn thành" only when the figures meet the target --------------------------------


def test_an_indicator_below_its_target_may_not_be_claimed_complete() -> None:
    indicator = given(given_indicator(), measure("71", period="2026"), evidence())  # ≥ 80%
    error = then_refused(indicator, claim(DOC), errors.KpiTargetNotMetError, "KPI_TARGET_NOT_MET")
    assert error.field == "value"
    assert "71" in error.message
    assert "≥ 80%" in error.message


def test_an_indicator_with_no_measurement_may_not_be_claimed_complete() -> None:
    indicator = given(given_indicator(), evidence())
    then_refused(indicator, claim(DOC), errors.KpiTargetNotMetError, "KPI_TARGET_NOT_MET")


def test_the_latest_measurement_of_the_year_is_what_completion_is_judged_on() -> None:
    indicator = given(given_indicator(), measure("85", period="2026-Q1"), evidence())
    given(indicator, measure("75", period="2026-Q2"))
    then_refused(indicator, claim(DOC), errors.KpiTargetNotMetError, "KPI_TARGET_NOT_MET")
    given(indicator, measure("81", period="2026-Q3"))
    assert when(indicator, claim(DOC)) == ["CompletionClaimed"]


def test_a_measurement_with_no_target_for_its_year_leaves_completion_as_it_is() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC), accept(), confirm())
    given(indicator, measure("10", period="2027"))
    assert indicator.status is ItemStatus.COMPLETED


def test_a_completed_indicator_corrected_below_its_target_is_back_in_progress() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC), accept(), confirm())
    assert indicator.status is ItemStatus.COMPLETED
    assert when(indicator, correct(2, "79")) == ["MeasurementCorrected"]
    assert (indicator.status, indicator.completed_on) == (ItemStatus.IN_PROGRESS, None)
    assert indicator.claim == ()


def test_a_claim_whose_figures_fall_below_the_target_cannot_be_confirmed() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC), accept())
    given(indicator, measure("60", period="2026-Q4"))
    assert indicator.status is ItemStatus.IN_PROGRESS
    then_refused(indicator, confirm(), errors.NoPendingClaimError, "NO_PENDING_COMPLETION_CLAIM")


def test_a_claim_is_confirmed_only_if_the_figures_meet_the_target_as_it_stands() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(DOC), accept())  # 85
    given(
        indicator,
        lambda i: i.amend(
            ctx(OFFICE),
            coordinator=OFFICE,
            changes={"targets": [{"period": "2026", "value": "≥ 90%"}]},
            reason="nâng chỉ tiêu",
            document="QĐ 21",
        ),
    )
    then_refused(indicator, confirm(), errors.KpiTargetNotMetError, "KPI_TARGET_NOT_MET")


def test_a_compound_target_is_measured_one_value_a_part_and_judged_per_part() -> None:
    indicator = given_indicator(targets=[{"period": "2026", "value": "100% & > 50%"}])
    indicator.record_measurement(
        ctx(indicator.lead[0]), value="100 & 62", unit="%", period="2026", as_of=DAY
    )
    assert indicator.latest("2026") == "100 & 62"
    target = indicator.targets["2026"]
    assert [p.is_met(v) for p, v in zip(target.parts, ["100", "40"], strict=True)] == [True, False]
    assert indicator.meets("2026", "100 & 62")
    assert not indicator.meets("2026", "100 & 40")
