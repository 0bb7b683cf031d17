"""Scores read on a day from scorecard rows: pure functions, no store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from projections.scorecards import milestones_on_time, period_span, tally, timeliness

START = dt.date(2026, 1, 15)
PLAN = {"p": {"plan": "p", "start": START.isoformat(), "reporting": ["monthly", "yearly"]}}


def task(lead: list[str], status: str = "in_progress", **fields: Any) -> dict[str, Any]:
    return {
        "kind": "task",
        "plan": "p",
        "lead": lead,
        "status": status,
        "completed_on": None,
        "evidence": {},
        "acted": [],
        "open_obstacles": 0,
        "due": None,
        "reported": [],
        **fields,
    }


def reported(*days: str) -> list[list[str]]:
    return [[day, day] for day in days]


def parts(card: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {name: (part["count"], part["of"]) for name, part in card["parts"].items()}


@pytest.mark.parametrize(
    ("label", "first", "last"),
    [
        ("2026", "2026-01-01", "2026-12-31"),
        ("2026-Q2", "2026-04-01", "2026-06-30"),
        ("2026-H2", "2026-07-01", "2026-12-31"),
        ("2026-02", "2026-02-01", "2026-02-28"),
    ],
)
def test_a_period_label_covers_its_days(label: str, first: str, last: str) -> None:
    span = period_span(label)
    assert (span.first.isoformat(), span.last.isoformat()) == (first, last)


def test_timeliness_counts_the_periods_whose_report_is_due_and_those_reported() -> None:
    row = task(["a"], reported=reported("2026-01-20", "2026-03-02"))
    # monthly: January (due 7/2), February (due 7/3), March (due 7/4) by 10 April
    assert timeliness(row, START, "monthly", dt.date(2026, 4, 10)) == (2, 3)
    assert timeliness(row, START, "monthly", dt.date(2026, 4, 7)) == (1, 2)  # March not yet due
    assert timeliness(row, START, "quarterly", dt.date(2026, 4, 10)) == (1, 1)


def test_a_measurement_reports_for_the_periods_that_hold_its_own() -> None:
    quarter = [["2026-02-01", "2026-02-28"]]  # a measurement of 2026-02
    year = [["2026-01-01", "2026-12-31"]]  # of 2026: within no quarter
    today = dt.date(2026, 4, 10)
    assert timeliness(task(["a"], reported=quarter), START, "quarterly", today) == (1, 1)
    assert timeliness(task(["a"], reported=year), START, "quarterly", today) == (0, 1)


def test_reporting_is_due_only_until_completion() -> None:
    row = task(["a"], "completed", completed_on="2026-02-10", reported=reported("2026-01-20"))
    assert timeliness(row, START, "monthly", dt.date(2026, 6, 1)) == (1, 2)


def milestone(due: str, *measured: tuple[str, bool]) -> dict[str, Any]:
    return {"milestones": {"m": {"due": due, "measured": [list(m) for m in measured]}}}


@pytest.mark.parametrize(
    ("row", "today", "expected"),
    [
        (milestone("2026-12-31"), dt.date(2026, 6, 1), (0, 0)),  # not due, not met
        (milestone("2026-12-31", ("2026-05-31", True)), dt.date(2026, 6, 1), (1, 1)),  # early
        (milestone("2026-12-31", ("2026-03-31", False)), dt.date(2027, 1, 1), (0, 1)),  # missed
        # met, then a later measurement fell below: the latest by the due day counts
        (
            milestone("2026-12-31", ("2026-06-30", True), ("2026-12-31", False)),
            dt.date(2027, 1, 1),
            (0, 1),
        ),
        # met only after its due day: not on time
        (milestone("2026-12-31", ("2027-01-15", True)), dt.date(2027, 2, 1), (0, 1)),
        (milestone("2025-12-31"), dt.date(2026, 6, 1), (0, 0)),  # before the plan's start
    ],
)
def test_a_kpi_milestone_is_on_time_when_met_by_its_due_day(
    row: dict[str, Any], today: dt.date, expected: tuple[int, int]
) -> None:
    assert milestones_on_time(row, START, today) == expected


def test_a_collective_is_not_ranked_its_item_counts_for_the_members_that_acted() -> None:
    rows = {
        "agency:all": {"agency": "all", "members": ["a", "b", "c"]},
        "p/task/1": task(["all"], acted=["a"], reported=reported("2026-01-20")),
        "p/task/2": task(["b"]),
    }
    units, collectives = tally(rows, PLAN, dt.date(2026, 2, 10))
    assert [card["agency"] for card in units] == ["a", "b"]  # c did nothing on task 1
    assert [card["agency"] for card in collectives] == ["all"]
    assert parts(units[0])["timeliness"] == (1, 1)
    assert parts(units[1])["timeliness"] == (0, 1)
    assert units[0]["score"] > units[1]["score"], "the unit that reports ranks ahead"


def test_nothing_counts_as_unflagged_before_the_first_checkpoint() -> None:
    rows = {"p/task/1": task(["a"])}
    assert parts(tally(rows, PLAN, dt.date(2026, 2, 7))[0][0])["unflagged"] == (0, 0)  # 7/2: due
    assert parts(tally(rows, PLAN, dt.date(2026, 2, 8))[0][0])["unflagged"] == (
        1,
        1,
    )  # judged from the day after, as the flags


def test_an_item_in_cho_hoan_thien_counts_0_and_a_cancelled_one_for_nobody() -> None:
    evidence = {"a": {"accepted": 1, "rejected": 1}}
    rows = {
        "p/task/1": task(
            ["a"], "awaiting_completion", evidence=evidence, reported=reported("2026-01-20")
        ),
        "p/task/2": task(["b"], "cancelled"),
    }
    units, _ = tally(rows, PLAN, dt.date(2026, 2, 10))
    assert [card["agency"] for card in units] == ["a"]
    assert parts(units[0]) == {
        "on_time": (0, 1),
        "acceptance": (0, 2),
        "timeliness": (0, 1),
        "unflagged": (0, 1),
    }
    assert units[0]["score"] == 0.0
