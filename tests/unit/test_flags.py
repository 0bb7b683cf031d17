"""The red-flag rules, as pure functions of an item's states, its plan's frame and a
day: each rule's onset, its per-period keys, the units it urges, its message in the
figures of the day read and the event a raise is credited to."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from domain.deadlines import parse_deadline
from domain.flags import (
    RULES,
    TIME,
    FlagSpan,
    Frame,
    ItemState,
    expected_figure,
    expected_percent,
    flag_history,
    kpi_off_track,
    next_state,
    open_flags,
)
from domain.targets import parse_target
from tests.unit.given import LEAD, ctx, given_indicator, given_task

START = dt.date(2026, 1, 1)  # the plan's schedule starts
MONTHLY = Frame.of(START, 2026, ["monthly", "quarterly"], units=("unit-a",))
CHECKPOINT = dt.date(2026, 2, 7)  # January's report is due
JUDGED = dt.date(2026, 2, 8)  # the first day judged on the schedule
QUARTER_I = parse_deadline("Quý I/2026")  # due 31 March
BODY_TEXT = parse_deadline(None)  # a duty of the body text: no deadline wording


def task(version: int, day: dt.date, percent: int = 0, **fields: object) -> ItemState:
    """A task's state, its ``percent`` reported on ``day`` unless ``reports`` says otherwise."""
    base: dict[str, object] = {
        "open": True,
        "percent": percent,
        "deadline": QUARTER_I,
        "reports": ((day, percent),),
    }
    return ItemState(f"p/task/1@v{version}", day, **{**base, **fields})  # type: ignore[arg-type]


def indicator(version: int, day: dt.date, **fields: object) -> ItemState:
    return ItemState(f"p/indicator/1@v{version}", day, open=True, **fields)  # type: ignore[arg-type]


def history(
    states: list[ItemState], today: dt.date, frame: Frame = MONTHLY, rule: str | None = None
) -> list[FlagSpan]:
    return [s for s in flag_history(states, frame, today) if rule is None or s.rule == rule]


def raised(
    states: list[ItemState], today: dt.date, rule: str, frame: Frame = MONTHLY
) -> list[tuple[dt.date, str]]:
    return [(s.raised_on, s.period) for s in history(states, today, frame, rule)]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2025, 12, 1), 0.0),
        (START, 0.0),
        (dt.date(2026, 2, 15), 50.0),
        (dt.date(2026, 3, 31), 100.0),
        (dt.date(2026, 5, 1), 100.0),
    ],
)
def test_the_schedule_expects_completion_linearly_from_start_to_due_day(
    today: dt.date, expected: float
) -> None:
    assert expected_percent(START, dt.date(2026, 3, 31), today) == pytest.approx(expected, abs=1.2)


def test_the_first_checkpoint_is_the_due_day_of_the_first_periods_report() -> None:
    assert (MONTHLY.checkpoint, MONTHLY.judged_from) == (CHECKPOINT, JUDGED)
    assert Frame.of(START, 2026, []).checkpoint == dt.date(2026, 4, 7)  # quarterly


def test_behind_schedule_is_not_judged_before_the_plans_first_checkpoint() -> None:
    states = [task(1, dt.date.min)]
    assert raised(states, CHECKPOINT, "BEHIND_SCHEDULE") == []  # January may still come
    [span] = history(states, JUDGED, rule="BEHIND_SCHEDULE")
    assert (span.raised_on, span.raised_by, span.raised_at_event, span.version) == (
        JUDGED,
        "p/task/1@v1",
        False,
        2,
    )


def test_behind_schedule_expects_progress_from_the_day_after_the_latest_upstream_due() -> None:
    downstream = Frame.of(START, 2026, ["monthly"], upstream_dues=(dt.date(2026, 3, 31),))
    states = [task(1, dt.date.min, deadline=parse_deadline("Quý II/2026"))]
    assert raised(states, dt.date(2026, 4, 1), "BEHIND_SCHEDULE", downstream) == []
    # 0% is behind from the second day of its planned span (1 April – 30 June)
    assert raised(states, dt.date(2026, 5, 1), "BEHIND_SCHEDULE", downstream) == [
        (dt.date(2026, 4, 2), "")
    ]


def test_behind_schedule_holds_below_half_of_the_expected_percent() -> None:
    mid_february = dt.date(2026, 2, 15)  # about 50% expected: 25% is the line
    assert raised([task(1, dt.date.min, 20)], mid_february, "BEHIND_SCHEDULE") != []
    assert raised([task(1, dt.date.min, 30)], mid_february, "BEHIND_SCHEDULE") == []


def test_a_task_nobody_reported_is_owed_a_report_not_judged_behind() -> None:
    silent = [task(1, dt.date.min, 0, reports=())]
    assert raised(silent, dt.date(2026, 3, 15), "BEHIND_SCHEDULE") == []
    assert raised(silent, dt.date(2026, 3, 15), "REPORT_MISSING") != []


def test_past_deadline_is_raised_the_day_after_the_due_day() -> None:
    states = [task(1, dt.date.min, 90)]
    assert raised(states, dt.date(2026, 3, 31), "PAST_DEADLINE") == []
    [span] = history(states, dt.date(2026, 4, 1), rule="PAST_DEADLINE")
    assert (span.raised_on, span.version, span.message) == (
        dt.date(2026, 4, 1),
        2,
        "Quá hạn: đạt 90% vào ngày 01/04/2026, hạn 31/03/2026",
    )


def test_a_duty_of_the_body_text_is_due_at_the_end_of_the_plans_year() -> None:
    states = [task(1, dt.date.min, deadline=BODY_TEXT)]
    assert raised(states, dt.date(2026, 12, 31), "PAST_DEADLINE") == []
    assert raised(states, dt.date(2027, 1, 15), "PAST_DEADLINE") == [(dt.date(2027, 1, 1), "")]


def test_the_early_warning_waits_for_the_checkpoint_and_gives_way_to_past_deadline() -> None:
    reports = ((dt.date(2026, 1, 20), 10),)  # 10 points in 19 days: 100% late in June
    states = [task(1, dt.date.min), task(2, dt.date(2026, 1, 20), 10, reports=reports)]
    [warning] = history(states, dt.date(2026, 4, 5), rule="LATE_FORECAST")
    assert (warning.raised_on, warning.cleared_on, warning.cleared_by) == (
        JUDGED,
        dt.date(2026, 4, 1),
        TIME,
    )


def test_a_low_quality_review_raises_at_its_event_and_a_good_one_clears_it() -> None:
    states = [
        task(1, dt.date.min, 60),
        task(2, dt.date(2026, 1, 20), 60, low_quality="ab" * 32),
        task(3, dt.date(2026, 2, 3), 60),
    ]
    [span] = history(states, dt.date(2026, 2, 10), rule="LOW_QUALITY_EVIDENCE")
    assert (span.raised_on, span.raised_by, span.raised_at_event) == (
        dt.date(2026, 1, 20),
        "p/task/1@v2",
        True,
    )
    assert (span.cleared_on, span.cleared_by) == (dt.date(2026, 2, 3), "p/task/1@v3")


def test_a_raise_is_credited_to_the_first_event_of_the_day_it_held_from() -> None:
    day, low = dt.date(2026, 4, 10), "ab" * 32
    states = [
        task(1, dt.date.min),
        task(8, day, low_quality=low),  # the rejection
        *(task(v, day, v, low_quality=low) for v in (9, 10, 11)),  # more events that day
    ]
    [span] = history(states, day, rule="LOW_QUALITY_EVIDENCE")
    assert span.raised_by.endswith("@v8")


def test_a_raise_is_not_credited_to_an_event_of_the_day_after_which_it_stopped() -> None:
    day, low = dt.date(2026, 4, 10), "ab" * 32
    states = [
        task(1, dt.date.min),
        task(2, day, low_quality=low),
        task(3, day),  # judged good again the same day
        task(4, day, low_quality=low),  # and low once more
    ]
    [span] = history(states, day, rule="LOW_QUALITY_EVIDENCE")
    assert span.raised_by.endswith("@v4")


def test_a_message_is_worded_in_the_figures_of_the_day_read() -> None:
    states = [task(1, dt.date.min), task(2, dt.date(2026, 3, 2), 20)]
    [span] = history(states, dt.date(2026, 3, 2), rule="BEHIND_SCHEDULE")
    assert span.raised_on == JUDGED
    assert span.message == "Chậm tiến độ: đạt 20%, cần 67,4% vào ngày 02/03/2026"  # 60 of 89 days


def test_report_missing_is_raised_per_period_the_day_after_its_report_was_due() -> None:
    january = (("2026-01", dt.date(2026, 2, 1), 2),)
    states = [task(1, dt.date.min), task(2, dt.date(2026, 1, 31), 10, reported=january)]
    assert raised(states, dt.date(2026, 3, 7), "REPORT_MISSING") == []
    [span] = history(states, dt.date(2026, 3, 8), rule="REPORT_MISSING")
    assert (span.period, span.raised_on, span.units, span.version) == (
        "2026-02",
        dt.date(2026, 3, 8),
        ("unit-a",),
        1,
    )
    assert span.message == "Chưa báo cáo tháng 2 năm 2026 (hạn 07/03/2026): unit-a"


def test_report_missing_clears_when_the_late_report_arrives_crediting_it() -> None:
    late = (("2026-01", dt.date(2026, 2, 20), 2),)  # about January, sent 20 February
    states = [task(1, dt.date.min), task(2, dt.date(2026, 1, 31), 10, reported=late)]
    [span] = history(states, dt.date(2026, 3, 1), rule="REPORT_MISSING")
    assert (span.period, span.raised_on, span.cleared_on, span.cleared_by) == (
        "2026-01",
        dt.date(2026, 2, 8),
        dt.date(2026, 2, 20),
        "p/task/1@v2",
    )


def test_report_missing_ends_when_the_item_closes() -> None:
    states = [task(1, dt.date.min), task(2, dt.date(2026, 3, 1), 100, open=False)]
    assert raised(states, dt.date(2026, 6, 1), "REPORT_MISSING") == [
        (dt.date(2026, 2, 8), "2026-01")
    ]
    assert open_flags(states, MONTHLY, dt.date(2026, 6, 1)) == []


def test_report_missing_counts_an_indicators_measurement_within_the_period() -> None:
    quarterly = Frame.of(START, 2026, ["quarterly"])
    q1 = (("2026-Q1", dt.date(2026, 4, 2), 2),)
    year = (("2026", dt.date(2026, 4, 2), 2),)  # a year's figure is not the quarter's
    assert (
        raised(
            [indicator(1, dt.date.min, reported=q1)],
            dt.date(2026, 5, 1),
            "REPORT_MISSING",
            quarterly,
        )
        == []
    )
    assert raised(
        [indicator(1, dt.date.min, reported=year)], dt.date(2026, 5, 1), "REPORT_MISSING", quarterly
    ) == [(dt.date(2026, 4, 8), "2026-Q1")]


def test_a_yearly_duty_with_no_report_in_its_year_is_flagged_after_the_grace() -> None:
    states = [task(1, dt.date.min, deadline=parse_deadline("Hằng năm"))]
    assert raised(states, dt.date(2027, 1, 7), "DUTY_PERIOD_UNMET") == []
    [span] = history(states, dt.date(2027, 1, 8), rule="DUTY_PERIOD_UNMET")
    assert (span.period, span.raised_on, span.units) == ("2026", dt.date(2027, 1, 8), ("unit-a",))
    assert span.message == "Nhiệm vụ hằng năm: chưa báo cáo tiến độ năm 2026: unit-a"
    assert raised(states, dt.date(2027, 1, 8), "PAST_DEADLINE") == []  # no due day to miss


def test_a_quarterly_duty_that_names_a_product_needs_evidence_in_the_quarter() -> None:
    product = Frame.of(START, 2026, ["monthly"], product=True)
    reported = (("2026-02", dt.date(2026, 2, 20), 2),)
    states = [task(1, dt.date.min, 40, deadline=parse_deadline("Hàng quý"), reported=reported)]
    [span] = history(states, dt.date(2026, 4, 20), product, rule="DUTY_PERIOD_UNMET")
    assert (span.period, span.message) == (
        "2026-Q1",
        "Nhiệm vụ hằng quý: chưa nộp minh chứng quý I năm 2026 (hạn 07/04/2026)",
    )
    evidenced = (("2026-03", dt.date(2026, 3, 3), 3),)
    with_evidence = [
        task(
            1,
            dt.date.min,
            40,
            deadline=parse_deadline("Hàng quý"),
            reported=reported,
            evidenced=evidenced,
        )
    ]
    assert raised(with_evidence, dt.date(2026, 4, 20), "DUTY_PERIOD_UNMET", product) == []


def test_a_continuous_duty_is_judged_by_report_missing_only() -> None:
    states = [task(1, dt.date.min, deadline=parse_deadline("Thường xuyên"))]
    rules = {s.rule for s in history(states, dt.date(2027, 1, 15))}
    assert rules == {"REPORT_MISSING"}


KPI = Frame.of(START, 2026, ["monthly"], targets=(("2026", parse_target("≥ 90%")),))


def test_a_kpi_below_half_its_trajectory_is_off_track_from_the_day_it_falls_behind() -> None:
    states = [
        indicator(1, dt.date.min),
        indicator(2, dt.date(2026, 3, 31), measured=(("2026-03", "20"),)),
    ]
    # 20/90 of the target is half the trajectory's share after 162 of 364 days
    [span] = history(states, dt.date(2026, 7, 1), KPI, rule="KPI_OFF_TRACK")
    assert (span.raised_on, span.period, span.raised_at_event) == (
        dt.date(2026, 6, 12),
        "2026",
        False,
    )
    assert span.message == (
        "Chệch hướng: số đo 20 so với chỉ tiêu ≥ 90% năm 2026: đạt 22% chỉ tiêu, "
        "cần ít nhất 25% vào ngày 01/07/2026"
    )


def test_a_kpi_value_the_target_cannot_read_is_not_judged_off_track() -> None:
    states = [indicator(1, dt.date.min, measured=(("2026-03", "Khá"),))]
    assert raised(states, dt.date(2026, 12, 1), "KPI_OFF_TRACK", KPI) == []


def test_a_kpi_not_met_when_its_milestone_ends_is_missed_and_off_track_gives_way() -> None:
    states = [indicator(1, dt.date.min, measured=(("2026-03", "20"),))]
    spans = history(states, dt.date(2027, 1, 15), KPI)
    off = next(s for s in spans if s.rule == "KPI_OFF_TRACK")
    missed = next(s for s in spans if s.rule == "KPI_MISSED")
    assert (off.cleared_on, missed.raised_on, missed.period) == (
        dt.date(2027, 1, 1),
        dt.date(2027, 1, 1),
        "2026",
    )
    assert missed.message == "Chỉ tiêu năm 2026 “≥ 90%” chưa đạt: số đo mới nhất 20"


def test_a_kpi_nobody_measured_is_missed_and_one_that_met_its_target_is_not() -> None:
    nothing = [indicator(1, dt.date.min)]
    assert raised(nothing, dt.date(2027, 1, 15), "KPI_MISSED", KPI) == [
        (dt.date(2027, 1, 1), "2026")
    ]
    met = [
        indicator(
            1,
            dt.date.min,
            measured=(("2026-11", "92"),),
            reported=(("2026-11", dt.date(2026, 12, 1), 2),),
        )
    ]
    assert raised(met, dt.date(2027, 1, 15), "KPI_MISSED", KPI) == []
    assert raised(met, dt.date(2026, 12, 1), "KPI_OFF_TRACK", KPI) == []


def test_every_rule_has_an_id_and_a_version() -> None:
    assert {rule: r.version for rule, r in RULES.items()} == {
        "PAST_DEADLINE": 2,
        "BEHIND_SCHEDULE": 2,
        "LOW_QUALITY_EVIDENCE": 1,
        "LATE_FORECAST": 2,
        "REPORT_MISSING": 1,
        "DUTY_PERIOD_UNMET": 1,
        "KPI_OFF_TRACK": 2,
        "KPI_MISSED": 2,
    }


def test_a_state_notes_each_reported_month_and_measured_period_with_the_day_it_came() -> None:
    item = given_task()
    item.report_progress(ctx(LEAD), percent=10, as_of=dt.date(2026, 1, 31))
    item.report_progress(ctx(LEAD), percent=20, as_of=dt.date(2026, 1, 31))
    state = None
    for event in item.collect_events():
        state = next_state(state, item, event)
    assert state is not None
    assert [(label, version) for label, _, version in state.reported] == [("2026-01", 2)]
    kpi = given_indicator()
    kpi.record_measurement(
        ctx(LEAD), value="50", unit="%", period="2026-Q1", as_of=dt.date(2026, 3, 31)
    )
    state = None
    for event in kpi.collect_events():
        state = next_state(state, kpi, event)
    assert state is not None
    assert (state.measured, [label for label, _, _ in state.reported]) == (
        (("2026-Q1", "50"),),
        ["2026-Q1"],
    )


def test_reports_are_owed_only_up_to_the_end_of_the_plans_year() -> None:
    states = [task(1, dt.date.min, deadline=BODY_TEXT)]
    owed = raised(states, dt.date(2030, 6, 1), "REPORT_MISSING")
    assert [period for _, period in owed] == [f"2026-{month:02d}" for month in range(1, 13)]


def test_a_milestone_ended_before_the_plan_began_is_judged_after_the_first_checkpoint() -> None:
    results_of_2025 = Frame.of(START, 2026, ["monthly"], targets=(("2025", parse_target("100%")),))
    nothing = [indicator(1, dt.date.min)]
    assert raised(nothing, CHECKPOINT, "KPI_MISSED", results_of_2025) == []
    assert raised(nothing, JUDGED, "KPI_MISSED", results_of_2025) == [(JUDGED, "2025")]


MILESTONES = Frame.of(
    START,
    2026,
    ["monthly"],
    targets=(
        ("2026", parse_target("≥ 50%")),
        ("2030", parse_target("≥ 90%")),
        ("2027", parse_target("X")),
        ("2028", parse_target("100% & > 50%")),
    ),
)


def test_each_milestone_is_missed_on_its_own_due_day() -> None:
    states = [indicator(1, dt.date.min, measured=(("2026-11", "60"),))]
    # 2026 is met; the commitment (2027) and the compound (2028) are missed when each ends
    assert raised(states, dt.date(2029, 1, 15), "KPI_MISSED", MILESTONES) == [
        (dt.date(2028, 1, 1), "2027"),
        (dt.date(2029, 1, 1), "2028"),
    ]


def test_a_commitment_is_met_by_evidence_accepted_that_was_submitted_in_time() -> None:
    states = [
        indicator(1, dt.date.min, measured=(("2026-11", "60"),)),
        indicator(
            2,
            dt.date(2028, 1, 10),
            measured=(("2026-11", "60"),),
            accepted=(dt.date(2027, 12, 20),),
        ),
    ]
    [span] = history(states, dt.date(2028, 2, 1), MILESTONES, "KPI_MISSED")
    assert (span.period, span.raised_on, span.cleared_on) == (
        "2027",
        dt.date(2028, 1, 1),
        dt.date(2028, 1, 10),
    )


def test_a_compound_target_is_judged_per_part() -> None:
    states = [indicator(1, dt.date.min, measured=(("2028-06", "100 & 40"),))]
    [span] = [
        s
        for s in history(states, dt.date(2029, 1, 15), MILESTONES, "KPI_MISSED")
        if s.period == "2028"
    ]
    assert span.message.endswith("phần chưa đạt: > 50% (đo được 40)")


def test_the_trajectory_between_milestones_starts_from_the_previous_one() -> None:
    frame = Frame.of(
        START,
        2026,
        ["monthly"],
        targets=(("2026", parse_target("≥ 50%")), ("2030", parse_target("≥ 90%"))),
    )
    state = indicator(1, dt.date.min, measured=(("2027-06", "55"),))
    # 2030's trajectory runs from 2026's end and from its 50%: 55 has made 12.5% of the
    # way to 90, half the expected share a year in (55 is 61% of 90: on track from 0)
    assert kpi_off_track(state, frame, dt.date(2029, 1, 1)) == {
        "2030": (dt.date(2028, 1, 1), dt.date(2031, 1, 1), None)
    }


def test_expected_by_now_follows_the_way_from_the_previous_milestone() -> None:
    frame = Frame.of(
        START,
        2026,
        ["monthly"],
        targets=(("2026", parse_target("≥ 50%")), ("2030", parse_target("≥ 90%"))),
    )
    assert expected_figure(frame, "2030", dt.date(2026, 12, 31)) is None  # not begun
    assert expected_figure(frame, "2030", dt.date(2028, 12, 31)) == Decimal("70.01")
    assert expected_figure(frame, "2030", dt.date(2031, 6, 1)) == Decimal("90.00")
    assert expected_figure(frame, "2026", dt.date(2026, 7, 2)) == Decimal("25.00")
