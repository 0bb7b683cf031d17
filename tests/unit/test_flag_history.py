"""Flag history: every raise and clear of the plans' rules, computed from an item's
states — checked day by day against the rules stated directly."""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.flags import (
    BEHIND_RATIO,
    TIME,
    FlagSpan,
    ItemState,
    event_day,
    expected_percent,
    flag_history,
    forecast_finish,
    open_flags,
)

START = dt.date(2026, 1, 1)
DUE = dt.date(2026, 3, 31)


def holds_on(rule: str, state: ItemState, day: dt.date) -> bool:
    """The rules as the plans state them, judged on one day."""
    if not state.open:
        return False
    if rule == "LOW_QUALITY_EVIDENCE":
        return state.low_quality is not None
    if state.due is None or state.percent is None:
        return False
    if rule == "PAST_DEADLINE":
        return day > state.due
    if rule == "BEHIND_SCHEDULE":
        expected = expected_percent(START, state.due, day)
        return expected > 0 and state.percent < BEHIND_RATIO * expected
    forecast = forecast_finish(state.reports, START)
    return forecast is not None and forecast > state.due and day <= state.due


def in_force(states: list[ItemState], day: dt.date) -> ItemState | None:
    found = [s for s in states if s.day <= day]
    return found[-1] if found else None


def up_on(history: list[FlagSpan], day: dt.date) -> set[str]:
    return {
        s.rule
        for s in history
        if s.raised_on <= day and (s.cleared_on is None or day < s.cleared_on)
    }


states_strategy = st.lists(
    st.builds(
        lambda n, open_, percent, due, low, reports: (n, open_, percent, due, low, reports),
        st.integers(0, 150),
        st.booleans(),
        st.integers(0, 100),
        st.sampled_from([DUE, dt.date(2026, 2, 1), START, None]),
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
    history = flag_history(states, START, today)
    day = START
    while day <= today:
        state = in_force(states, day)
        expected = {
            rule
            for rule in (
                "PAST_DEADLINE",
                "BEHIND_SCHEDULE",
                "LOW_QUALITY_EVIDENCE",
                "LATE_FORECAST",
            )
            if state is not None and holds_on(rule, state, day)
        }
        assert up_on(history, day) == expected, day
        day += dt.timedelta(days=1)
    assert {f.rule for f in open_flags(states, START, today)} == up_on(history, today)
    assert all(
        s.raised_on <= today
        and (s.cleared_on is None or s.cleared_on <= today + dt.timedelta(days=1))
        for s in history
    )


def state(version: int, day: dt.date, **fields: object) -> ItemState:
    base = {"open": True, "percent": 0, "due": DUE}
    return ItemState(f"p/task/1@v{version}", day, **{**base, **fields})  # type: ignore[arg-type]


def test_a_deadline_passing_raises_a_flag_by_time_and_completion_clears_it() -> None:
    states = [state(1, START), state(2, dt.date(2026, 4, 10), percent=100, open=False)]
    [span] = [
        s for s in flag_history(states, START, dt.date(2026, 5, 1)) if s.rule == "PAST_DEADLINE"
    ]
    assert (span.raised_on, span.raised_by, span.raised_at_event) == (
        dt.date(2026, 4, 1),
        "p/task/1@v1",
        False,
    )
    assert (span.cleared_on, span.cleared_by, span.version) == (
        dt.date(2026, 4, 10),
        "p/task/1@v2",
        1,
    )


def test_a_low_quality_review_raises_at_its_event_and_a_good_one_clears_it() -> None:
    states = [
        state(1, START, percent=60),
        state(2, dt.date(2026, 1, 20), percent=60, low_quality="ab" * 32),
        state(3, dt.date(2026, 2, 3), percent=60),
    ]
    [span] = flag_history(states, START, dt.date(2026, 2, 10))
    assert (span.rule, span.raised_on, span.raised_by, span.raised_at_event) == (
        "LOW_QUALITY_EVIDENCE",
        dt.date(2026, 1, 20),
        "p/task/1@v2",
        True,
    )
    assert (span.cleared_on, span.cleared_by) == (dt.date(2026, 2, 3), "p/task/1@v3")


def test_the_early_warning_gives_way_to_past_deadline_when_the_day_passes() -> None:
    states = [state(1, dt.date(2026, 3, 1), percent=60, reports=((dt.date(2026, 3, 1), 60),))]
    history = flag_history(states, START, dt.date(2026, 4, 5))
    warning = next(s for s in history if s.rule == "LATE_FORECAST")
    assert (warning.raised_on, warning.cleared_on, warning.cleared_by) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 4, 1),
        TIME,
    )
    assert next(s for s in history if s.rule == "PAST_DEADLINE").raised_on == dt.date(2026, 4, 1)


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
