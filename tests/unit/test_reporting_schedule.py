"""The reporting regime's periods and due days, and an item's planned span."""

from __future__ import annotations

from datetime import date

import pytest

from domain.deadlines import parse_deadline
from domain.errors import InvalidValueError
from domain.reporting import finest, first_checkpoint, period_of, periods, periods_due
from domain.schedule import planned_span

START = date(2026, 1, 1)


def test_the_finest_period_of_the_regime_is_reported_on_and_none_means_quarterly() -> None:
    assert finest(["yearly", "monthly", "quarterly"]) == "monthly"
    assert finest([]) == "quarterly"
    with pytest.raises(InvalidValueError):
        finest(["weekly"])


def test_periods_are_labelled_as_measurements_are() -> None:
    assert period_of(date(2026, 5, 31), "monthly").label == "2026-05"
    assert period_of(date(2026, 5, 31), "quarterly").label == "2026-Q2"
    assert period_of(date(2026, 7, 1), "half_yearly").label == "2026-H2"
    assert period_of(date(2026, 12, 31), "yearly").label == "2026"
    assert period_of(date(2026, 12, 31), "quarterly").last == date(2026, 12, 31)
    assert [p.label for p in periods(date(2026, 11, 20), date(2027, 1, 2), "monthly")] == [
        "2026-11",
        "2026-12",
        "2027-01",
    ]


def test_the_first_checkpoint_is_the_due_day_of_the_first_periods_report() -> None:
    assert first_checkpoint(START, ["monthly", "quarterly"]) == date(2026, 2, 7)
    assert first_checkpoint(START, ["quarterly", "yearly"]) == date(2026, 4, 7)
    assert first_checkpoint(date(2026, 3, 15), []) == date(2026, 4, 7)


def test_a_periods_report_is_missing_only_after_its_due_day() -> None:
    assert periods_due(START, date(2026, 12, 31), "quarterly", date(2026, 4, 7)) == []
    due = periods_due(START, date(2026, 12, 31), "quarterly", date(2026, 4, 8))
    assert [p.label for p in due] == ["2026-Q1"]
    # an item due in February owes January and February only
    assert len(periods_due(START, date(2026, 2, 28), "monthly", date(2026, 12, 1))) == 2


def test_a_duty_with_no_deadline_is_due_by_the_end_of_the_plans_year() -> None:
    span = planned_span(parse_deadline(None), START, 2026)
    assert (span.start, span.due) == (START, date(2026, 12, 31))


def test_a_task_starts_after_its_upstreams_due_day_but_never_after_its_own() -> None:
    quarter = parse_deadline("Quý II/2026")
    assert planned_span(quarter, START, 2026, [date(2026, 3, 31)]).start == date(2026, 4, 1)
    assert planned_span(quarter, START, 2026, [date(2026, 9, 30)]).start == date(2026, 6, 30)


def test_a_recurring_duty_has_no_single_due_day() -> None:
    span = planned_span(parse_deadline("Hằng năm"), START, 2026)
    assert (span.due, span.recurrence) == (None, "yearly")
