"""Critical paths, blocked tasks and bottleneck attribution, read from dependency rows
on each task's planned span (its deadline's wording, its declared upstreams)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.deadlines import parse_deadline
from projections.dependencies import blocked, bottlenecks, critical_path

START = dt.date(2026, 1, 1)
TODAY = dt.date(2026, 5, 1)


def task(
    lead: str, deadline: str | None, percent: int = 0, status: str = "in_progress"
) -> dict[str, Any]:
    return {
        "status": status,
        "deadline": parse_deadline(deadline).to_dict(),
        "lead": [lead],
        "percent": percent,
    }


def plan_row(
    plan: str, tasks: dict[str, dict[str, Any]], dependencies: list[list[str]]
) -> dict[str, Any]:
    return {
        "plan": plan,
        "year": 2026,
        "start": START.isoformat(),
        "tasks": tasks,
        "dependencies": dependencies,
    }


ROW = plan_row(
    "p",
    {
        "data": task("police", "Quý I/2026", 50),  # late: holds up the health post and the school
        "records": task("health", "Quý II/2026"),
        "app": task("school", "Năm 2026", 10),
        "plan": task("office", "trước ngày 01/03/2026", 100, "completed"),
        "report": task("office", "Quý III/2026"),
    },
    [["data", "records"], ["records", "app"], ["plan", "report"]],
)


def test_the_critical_path_is_the_chain_that_finishes_last() -> None:
    path = critical_path(ROW, TODAY)
    # data: half of its 89 days (45) from today; records: its 90 days after that;
    # app: 90% of its 183 days (165) after that
    assert path["tasks"] == ["data", "records", "app"]
    assert path["remaining_days"] == 45 + 90 + 165
    finish = TODAY + dt.timedelta(days=45 + 1 + 90 + 1 + 165)
    assert (path["finish"], path["due"]) == (finish.isoformat(), "2026-12-31")
    assert path["slack_days"] == (dt.date(2026, 12, 31) - finish).days
    assert [(s["task"], s["start"], s["due"]) for s in path["schedule"]] == [
        ("data", "2026-01-01", "2026-03-31"),
        ("records", "2026-06-16", "2026-06-30"),
        ("app", "2026-09-15", "2026-12-31"),
    ]
    assert path["schedule"][-1]["slack_days"] == path["slack_days"]


def test_a_plan_not_yet_started_finishes_on_its_last_due_day() -> None:
    untouched = {key: {**row, "percent": 0} for key, row in ROW["tasks"].items()}
    path = critical_path({**ROW, "tasks": untouched}, START)
    assert (path["finish"], path["slack_days"], path["remaining_days"]) == (
        "2026-12-31",
        0,
        89 + 90 + 183,
    )
    assert [s["slack_days"] for s in path["schedule"]] == [0, 0, 0]
    ahead = critical_path(ROW, START)  # 50% and 10% done already: days to spare
    assert (ahead["finish"], ahead["slack_days"]) == ("2026-12-13", 18)


def test_a_plan_without_declared_dependencies_has_no_critical_path() -> None:
    path = critical_path(plan_row("q", {"a": task("x", "Quý I/2026")}, []), TODAY)
    assert (path["tasks"], path["finish"], path["schedule"]) == ([], None, [])


def test_the_bottleneck_is_the_agency_whose_late_tasks_hold_up_the_most() -> None:
    other = plan_row(
        "q",
        {"late": task("office", "trước ngày 16/04/2026"), "waits": task("health", "Quý II/2026")},
        [["late", "waits"]],
    )
    ranked = bottlenecks([ROW, other], TODAY)
    assert [b["agency"] for b in ranked] == ["police", "office"]
    assert ranked[0] == {
        "agency": "police",
        "late_tasks": ["p/task/data"],
        "held_tasks": ["p/task/app", "p/task/records"],
        "held_agencies": ["health", "school"],
    }
    assert ranked[1]["held_tasks"] == ["q/task/waits"]


def test_nothing_is_a_bottleneck_before_any_deadline_passes() -> None:
    assert bottlenecks([ROW], dt.date(2026, 3, 1)) == []


def test_blocked_tasks_are_due_soon_with_an_open_upstream() -> None:
    assert blocked(ROW, dt.date(2026, 6, 10)) == [{"downstream": "records", "upstream": "data"}]


def test_a_late_task_that_holds_no_one_up_makes_no_bottleneck() -> None:
    alone = plan_row("r", {"late": task("office", "trước ngày 16/04/2026")}, [])
    assert bottlenecks([alone], TODAY) == []


def test_a_duty_with_no_deadline_is_late_and_blocking_by_the_plans_year_end() -> None:
    row = plan_row(
        "b",
        {"duty": task("ward", None), "after": task("school", "Năm 2026")},
        [["duty", "after"]],
    )
    assert blocked(row, dt.date(2026, 12, 15)) == [{"downstream": "after", "upstream": "duty"}]
    assert bottlenecks([row], dt.date(2026, 12, 31)) == []
    assert [b["agency"] for b in bottlenecks([row], dt.date(2027, 1, 1))] == ["ward"]
