"""When a fact may be said to have happened (domain/timing.py), against a 2026 plan."""

from __future__ import annotations

import datetime as dt

import pytest

from domain import errors
from domain.context import Context
from domain.reporting import check_period_begun
from domain.timing import check_as_of, check_occurred_at, check_period_year

NOW = dt.datetime(2026, 6, 30, 20, 0, tzinfo=dt.UTC)  # already 1 July in the wards
FIRST_YEAR = 2026


def at(occurred_at: dt.datetime) -> Context:
    return Context("phuoc-binh.police", occurred_at, NOW, "test", "m-1")


@pytest.mark.parametrize(
    "occurred_at",
    [NOW + dt.timedelta(minutes=4), NOW, dt.datetime(2025, 12, 31, 18, tzinfo=dt.UTC)],
)
def test_a_fact_may_occur_a_little_ahead_of_the_clock_and_within_the_plans_years(
    occurred_at: dt.datetime,
) -> None:
    check_occurred_at(at(occurred_at), FIRST_YEAR)  # 18:00 UTC on 31 Dec is 2026 in the ward


@pytest.mark.parametrize(
    ("occurred_at", "error"),
    [
        (NOW + dt.timedelta(minutes=6), errors.OccurredInFutureError),
        (dt.datetime(2099, 1, 1, tzinfo=dt.UTC), errors.OccurredInFutureError),
        (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), errors.OccurredBeforePlanError),
        (dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC), errors.OccurredBeforePlanError),
    ],
)
def test_a_fact_far_ahead_of_the_clock_or_before_the_plan_is_refused(
    occurred_at: dt.datetime, error: type[errors.DomainError]
) -> None:
    with pytest.raises(error) as refused:
        check_occurred_at(at(occurred_at), FIRST_YEAR)
    assert refused.value.field == "occurred_at"


@pytest.mark.parametrize("day", [dt.date(2026, 1, 1), dt.date(2026, 7, 1)])
def test_a_report_refers_to_a_day_from_the_plans_first_year_to_the_wards_today(
    day: dt.date,
) -> None:
    check_as_of(day, at(NOW), FIRST_YEAR)


@pytest.mark.parametrize(
    "day", [dt.date(2025, 12, 31), dt.date(2026, 7, 2), dt.date(1, 1, 1), dt.date(9999, 12, 31)]
)
def test_a_report_on_a_day_outside_the_plans_life_so_far_is_refused(day: dt.date) -> None:
    with pytest.raises(errors.AsOfOutOfRangeError):
        check_as_of(day, at(NOW), FIRST_YEAR)


@pytest.mark.parametrize("period", ["2021", "2025", "2026-Q3", "2026-12"])
def test_a_measurement_period_may_be_a_baseline_or_of_this_year(period: str) -> None:
    check_period_year(period, at(NOW), FIRST_YEAR)


@pytest.mark.parametrize("period", ["2026", "2026-H2", "2026-Q3", "2026-07", "2025-12"])
def test_a_measurement_period_that_has_begun_in_the_ward_is_accepted(period: str) -> None:
    check_period_begun(period, at(NOW))  # 1 July in the wards, 30 June in UTC


@pytest.mark.parametrize("period", ["2026-08", "2026-Q4", "2026-12", "2035"])
def test_a_measurement_period_that_has_not_begun_is_refused(period: str) -> None:
    with pytest.raises(errors.PeriodOutOfRangeError, match="begins on"):
        check_period_begun(period, at(NOW))


@pytest.mark.parametrize("period", ["1900", "2020-H2", "2027", "2099-Q1"])
def test_a_measurement_period_far_before_the_plan_or_in_a_coming_year_is_refused(
    period: str,
) -> None:
    with pytest.raises(errors.PeriodOutOfRangeError):
        check_period_year(period, at(NOW), FIRST_YEAR)
