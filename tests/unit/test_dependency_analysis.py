"""Critical paths and bottleneck attribution, read from dependency rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from projections.dependencies import blocked, bottlenecks, critical_path, remaining_days

START = dt.date(2026, 1, 1)
TODAY = dt.date(2026, 5, 1)


def task(
    lead: str, due: str | None, percent: int = 0, status: str = "in_progress"
) -> dict[str, Any]:
    return {"status": status, "due": due, "lead": [lead], "percent": percent}


def plan_row(
    plan: str, tasks: dict[str, dict[str, Any]], dependencies: list[list[str]]
) -> dict[str, Any]:
    return {"plan": plan, "start": START.isoformat(), "tasks": tasks, "dependencies": dependencies}


ROW = plan_row(
    "p",
    {
        "data": task("police", "2026-03-31", 50),  # late: holds up the health post and the school
        "records": task("health", "2026-06-30"),
        "app": task("school", "2026-12-31", 10),
        "plan": task("office", "2026-02-28", 100, "completed"),
        "report": task("office", "2026-09-30"),
    },
    [["data", "records"], ["records", "app"], ["plan", "report"]],
)


def test_remaining_days_follow_the_planned_pace() -> None:
    assert remaining_days(task("a", "2026-03-31", 50), START) == 45  # 89 days, half left
    assert remaining_days(task("a", "2026-03-31", 100, "completed"), START) == 0
    assert remaining_days(task("a", None), START) == 0


def test_the_critical_path_is_the_chain_that_finishes_last() -> None:
    path = critical_path(ROW, TODAY)
    # data 45 + records 180 + app 328 (90% of 364, rounded up) days from today
    assert path["tasks"] == ["data", "records", "app"]
    assert path["remaining_days"] == 45 + 180 + 328
    assert path["finish"] == (TODAY + dt.timedelta(days=45 + 180 + 328)).isoformat()
    assert path["slack_days"] == (dt.date(2026, 12, 31) - TODAY).days - (45 + 180 + 328)


def test_a_plan_without_declared_dependencies_has_no_critical_path() -> None:
    assert critical_path(plan_row("q", {"a": task("x", "2026-03-31")}, []), TODAY)["tasks"] == []


def test_the_bottleneck_is_the_agency_whose_late_tasks_hold_up_the_most() -> None:
    other = plan_row(
        "q",
        {"late": task("office", "2026-04-15"), "waits": task("health", "2026-05-15")},
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
    alone = plan_row("r", {"late": task("office", "2026-04-15")}, [])
    assert bottlenecks([alone], TODAY) == []
