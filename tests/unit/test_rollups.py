"""Rollups read on a day: the schedule's expectation, reporting periods."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from projections.rollups import (
    credited_percent,
    expected_by,
    indicators_by_code,
    periods,
    read_tasks,
    summary,
)

START = dt.date(2026, 1, 15)


@pytest.mark.parametrize(
    ("row", "today", "expected"),
    [
        ({"due": "2026-03-31"}, dt.date(2026, 2, 22), 50.0),  # linear from the plan's start
        ({"due": None, "recurrence": "quarterly"}, dt.date(2026, 5, 16), 50.0),  # Q2 half gone
        ({"due": None, "recurrence": "yearly"}, dt.date(2026, 12, 31), 100.0),
        ({"due": None, "recurrence": "monthly"}, dt.date(2026, 1, 20), 31.2),  # from 15/01
        ({"due": None, "recurrence": "continuous"}, dt.date(2026, 5, 16), None),
        ({"due": None}, dt.date(2026, 5, 16), None),
    ],
)
def test_the_schedule_expects_a_share_by_the_day(
    row: dict[str, str | None], today: dt.date, expected: float | None
) -> None:
    found = expected_by(row, START, today)
    assert found == (pytest.approx(expected, abs=1.0) if expected is not None else None)


def test_reporting_periods_cover_the_year_without_gaps() -> None:
    for kind, count in (("monthly", 12), ("quarterly", 4), ("half_yearly", 2), ("yearly", 1)):
        found = periods(kind, 2026)
        assert len(found) == count
        assert found[0][1] == dt.date(2026, 1, 1)
        assert found[-1][2] == dt.date(2026, 12, 31)
        assert all(a[2] + dt.timedelta(days=1) == b[1] for a, b in itertools.pairwise(found))
    assert periods("quarterly", 2026)[1] == ("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 6, 30))


def test_an_unknown_period_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="period kind must be one of"):
        periods("weekly", 2026)


@pytest.mark.parametrize(
    ("status", "percent", "credited"),
    [
        ("completed", 80, 100),  # confirmed complete: 100 whatever was last reported
        ("awaiting_evidence", 100, 99),  # "Chờ minh chứng": 100% reported, not confirmed
        ("submitted", 100, 99),  # claimed, under review
        ("awaiting_completion", 100, 0),  # "Chờ hoàn thiện": counts 0 until fixed
        ("in_progress", 40, 40),
        ("not_started", 0, 0),
    ],
)
def test_a_rollup_credits_100_only_to_a_confirmed_completion(
    status: str, percent: int, credited: int
) -> None:
    assert credited_percent(status, percent) == credited


def test_a_task_at_100_without_evidence_is_neither_done_nor_100_in_a_summary() -> None:
    def row(status: str, percent: int) -> dict[str, object]:
        return {
            "plan": "p",
            "group": False,
            "lead": ["a"],
            "status": status,
            "percent": percent,
            "due": "2026-12-31",
        }

    tasks = {"p/task/1": row("awaiting_evidence", 100), "p/task/2": row("awaiting_completion", 100)}
    found = summary(read_tasks(tasks, {}, dt.date(2026, 6, 1)))
    assert (found["completed"], found["completion_rate"], found["mean_percent"]) == (0, 0.0, 49.5)
    assert found["by_status"] == {"awaiting_completion": 1, "awaiting_evidence": 1}


def test_an_indicator_in_cho_hoan_thien_does_not_count_as_meeting_its_target() -> None:
    def kpi(plan: str, status: str) -> dict[str, object]:
        period = {"target": "≥ 80%", "value": "85", "standing": "met"}
        return {
            "plan": plan,
            "code": "VNEID",
            "unit": "%",
            "status": status,
            "periods": {"2026": period},
        }

    kpis = {
        "a/indicator/1": kpi("a", "awaiting_completion"),
        "b/indicator/1": kpi("b", "completed"),
    }
    vneid = indicators_by_code(kpis, {}, "2026")["VNEID"]
    assert (vneid["reporting"], vneid["met"]) == (2, 1)
