"""Flag history: every raise and clear of the plans' rules, computed from an item's
states — checked day by day against the rules stated directly."""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.deadlines import parse_deadline
from domain.flags import (
    BEHIND_RATIO,
    FlagSpan,
    Frame,
    ItemState,
    event_day,
    expected_percent,
    flag_history,
    forecast_finish,
    open_flags,
)
from domain.reporting import periods

START = dt.date(2026, 1, 1)
FRAME = Frame.of(START, 2026, ["monthly"])  # the first checkpoint: 7 February
QUARTER_I = parse_deadline("Quý I/2026")
RULES = ("PAST_DEADLINE", "BEHIND_SCHEDULE", "LOW_QUALITY_EVIDENCE", "LATE_FORECAST")


def holds_on(rule: str, state: ItemState, day: dt.date) -> bool:
    """The rules as the plans state them, judged on one day."""
    if not state.open:
        return False
    if rule == "LOW_QUALITY_EVIDENCE":
        return state.low_quality is not None
    due = state.deadline.due if state.deadline else None
    if due is None or state.percent is None:
        return False
    if rule == "PAST_DEADLINE":
        return day > due
    start = min(START, due)  # the planned span never starts after its due day
    judged = day > FRAME.checkpoint  # nothing is judged on the schedule by then
    if rule == "BEHIND_SCHEDULE":  # a percent nobody reported is not judged
        expected = expected_percent(start, due, day)
        reported = bool(state.reports)
        return reported and judged and expected > 0 and state.percent < BEHIND_RATIO * expected
    forecast = forecast_finish(state.reports, start)
    return judged and forecast is not None and forecast > due and day <= due


def in_force(states: list[ItemState], day: dt.date) -> ItemState | None:
    found = [s for s in states if s.day <= day]
    return found[-1] if found else None


def up_on(history: list[FlagSpan], day: dt.date) -> set[str]:
    return {
        s.rule
        for s in history
        if s.rule in RULES and s.raised_on <= day and (s.cleared_on is None or day < s.cleared_on)
    }


states_strategy = st.lists(
    st.builds(
        lambda n, open_, percent, due, low, reports: (n, open_, percent, due, low, reports),
        st.integers(0, 150),
        st.booleans(),
        st.integers(0, 100),
        st.sampled_from(
            [
                QUARTER_I,
                parse_deadline("trước ngày 01/02/2026"),
                parse_deadline("trước ngày 01/01/2026"),
                parse_deadline("Thường xuyên"),
            ]
        ),
        st.sampled_from([None, "ab" * 32]),
        st.sampled_from(
            [
                (),
                ((dt.date(2026, 2, 1), 30),),
                ((dt.date(2026, 1, 5), 5), (dt.date(2026, 2, 1), 90)),
            ]
        ),
    ),
    min_size=1,
    max_size=6,
)


def build(raw: list[tuple[Any, ...]]) -> list[ItemState]:
    days = sorted(START + dt.timedelta(days=n) for n, *_ in raw)
    return [
        ItemState(f"p/task/1@v{i}", day, open_, percent, due, low, reports)
        for i, (day, (_, open_, percent, due, low, reports)) in enumerate(
            zip(days, raw, strict=True), 1
        )
    ]


@settings(max_examples=300, deadline=None)
@given(states_strategy, st.integers(0, 200))
def test_the_history_shows_a_flag_up_exactly_on_the_days_its_rule_holds(
    raw: list[tuple[Any, ...]], today_offset: int
) -> None:
    states = build(raw)
    today = START + dt.timedelta(days=today_offset)
    history = flag_history(states, FRAME, today)
    day = START
    while day <= today:
        state = in_force(states, day)
        expected = {rule for rule in RULES if state is not None and holds_on(rule, state, day)}
        assert up_on(history, day) == expected, day
        day += dt.timedelta(days=1)
    up = {f.rule for f in open_flags(states, FRAME, today) if f.rule in RULES}
    assert up == up_on(history, today)
    assert all(
        s.raised_on <= today
        and (s.cleared_on is None or s.cleared_on <= today + dt.timedelta(days=1))
        for s in history
    )


def test_a_deadline_passing_raises_a_flag_by_time_and_completion_clears_it() -> None:
    states = [
        ItemState("p/task/1@v1", dt.date.min, open=True, percent=0, deadline=QUARTER_I),
        ItemState("p/task/1@v2", dt.date(2026, 4, 10), open=False, percent=100),
    ]
    [span] = [
        s for s in flag_history(states, FRAME, dt.date(2026, 5, 1)) if s.rule == "PAST_DEADLINE"
    ]
    assert (span.raised_on, span.raised_by, span.raised_at_event) == (
        dt.date(2026, 4, 1),
        "p/task/1@v1",
        False,
    )
    assert (span.cleared_on, span.cleared_by, span.version) == (
        dt.date(2026, 4, 10),
        "p/task/1@v2",
        2,
    )


def test_the_forecast_extends_the_latest_reports_velocity_to_100_percent() -> None:
    reports = ((dt.date(2026, 2, 1), 20), (dt.date(2026, 3, 1), 40))
    # 20 points in the 28 days between the reports: 60 more take 84 days
    assert forecast_finish(reports, START) == dt.date(2026, 3, 1) + dt.timedelta(days=84)
    # one report: the velocity since the plan's start (20 points in 31 days)
    assert forecast_finish(reports[:1], START) == dt.date(2026, 2, 1) + dt.timedelta(days=124)
    assert forecast_finish(((dt.date(2026, 2, 1), 0),), START) is None
    assert forecast_finish(((dt.date(2026, 2, 1), 100),), START) == dt.date(2026, 2, 1)


def test_an_event_takes_effect_on_the_wards_day_not_the_utc_one() -> None:
    ict = dt.timezone(dt.timedelta(hours=7))
    before_dawn = types.SimpleNamespace(occurred_at=dt.datetime(2026, 7, 1, 3, tzinfo=ict))
    utc_evening = types.SimpleNamespace(occurred_at=dt.datetime(2026, 6, 30, 20, tzinfo=dt.UTC))
    assert event_day(before_dawn) == event_day(utc_evening) == dt.date(2026, 7, 1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(0, 160)), max_size=5, unique_by=lambda r: r[0]
    ),
    st.one_of(st.none(), st.integers(0, 200)),
    st.integers(0, 200),
)
def test_report_missing_is_up_exactly_while_a_due_periods_report_has_not_come(
    reports: list[tuple[int, int]], closed_after: int | None, today_offset: int
) -> None:
    reported = tuple(
        (f"2026-{month:02d}", START + dt.timedelta(days=came), 2) for month, came in reports
    )
    states = [ItemState("p/task/1@v1", dt.date.min, open=True, percent=0, deadline=QUARTER_I)]
    states.append(replace(states[0], ref="p/task/1@v2", day=START, reported=reported))
    if closed_after is not None:
        day = START + dt.timedelta(days=closed_after)
        states.append(replace(states[-1], ref="p/task/1@v3", day=day, open=False))
    today = START + dt.timedelta(days=today_offset)
    history = [s for s in flag_history(states, FRAME, today) if s.rule == "REPORT_MISSING"]
    day = START
    while day <= today:
        came = {label: arrived for label, arrived, _ in reported}
        open_ = closed_after is None or day < START + dt.timedelta(days=closed_after)
        owed = {
            period.label
            for period in periods(START, dt.date(2026, 12, 31), "monthly")
            if open_ and period.due < day and not came.get(period.label, dt.date.max) <= day
        }
        up = {
            s.period
            for s in history
            if s.raised_on <= day and (s.cleared_on is None or day < s.cleared_on)
        }
        assert up == owed, day
        day += dt.timedelta(days=1)
