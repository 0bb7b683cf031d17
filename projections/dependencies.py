"""The cross-agency dependencies view: a row per plan (its declared dependencies, its
year and the day its schedule starts) and a row per task (status, deadline, percent,
lead and coordinating units), each a function of its own aggregate alone.
:func:`graphs` assembles a plan's graph when read — declared dependencies plus
lead/coordinating relations, and per agency whom it waits on and who waits on it — and
the day-dependent judgements read it on each task's planned span
(:mod:`domain.schedule`): :func:`blocked`, :func:`critical_path`, :func:`bottlenecks`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.deadlines import Deadline
from domain.ids import task_ref
from domain.items import ItemStatus
from domain.plan import Plan
from domain.schedule import Forecast, PlannedSpan, critical_chain, forecast, plan_spans
from domain.task import Task
from projections.engine.replay import AggregateView
from projections.engine.rows import Row


def waits(waiter: str, task: str, on: str, upstream: str, reason: str) -> dict[str, str]:
    return {"agency": waiter, "task": task, "on": on, "upstream": upstream, "reason": reason}


def relations(dependencies: list[list[str]], tasks: dict[str, Row]) -> list[dict[str, str]]:
    """Who waits on whom: a downstream task's leads on an upstream task's leads
    ("dependency"); a task's leads on its coordinating units ("coordination")."""
    found = []
    for upstream, downstream in dependencies:
        if upstream in tasks and downstream in tasks:
            for waiter in tasks[downstream]["lead"]:
                found += [
                    waits(waiter, downstream, lead, upstream, "dependency")
                    for lead in tasks[upstream]["lead"]
                ]
    for key, task in sorted(tasks.items()):
        for waiter in task["lead"]:
            found += [
                waits(waiter, key, helper, key, "coordination") for helper in task["coordinating"]
            ]
    return [w for w in found if w["agency"] != w["on"]]


def graph(plan: Row, tasks: dict[str, Row]) -> Row:
    """A plan's graph: its dependencies, its tasks and who waits on whom."""
    agencies: dict[str, dict[str, list[dict[str, str]]]] = {}
    for edge in relations(plan["dependencies"], tasks):
        agencies.setdefault(edge["agency"], {"waits_on": [], "waited_by": []})["waits_on"].append(
            edge
        )
        agencies.setdefault(edge["on"], {"waits_on": [], "waited_by": []})["waited_by"].append(edge)
    return {
        "plan": plan["plan"],
        "year": plan["year"],
        "start": plan["start"],
        "dependencies": plan["dependencies"],
        "agencies": dict(sorted(agencies.items())),
        "tasks": dict(sorted(tasks.items())),
    }


def graphs(rows: dict[str, Row], plans: set[str] | None = None) -> dict[str, Row]:
    """The graph of every plan in the view's ``rows`` (or of ``plans``), by plan."""
    tasks: dict[str, dict[str, Row]] = {}
    for key, row in rows.items():
        if "/" in key and (plans is None or row["plan"] in plans):
            tasks.setdefault(row["plan"], {})[row["key"]] = row
    return {
        key: graph(row, tasks.get(key, {}))
        for key, row in sorted(rows.items())
        if "/" not in key and (plans is None or key in plans)
    }


def spans_of(row: Row) -> dict[str, PlannedSpan]:
    """Each task's planned span in a plan's graph (:func:`domain.schedule.plan_spans`)."""
    return plan_spans(
        {key: Deadline.from_dict(task["deadline"]) for key, task in row["tasks"].items()},
        row["dependencies"],
        date.fromisoformat(row["start"]),
        row["year"],
    )


def blocked(row: Row, today: date, window_days: int = 30) -> list[dict[str, str]]:
    """Declared dependencies whose upstream is not completed while the downstream is
    due (its planned due day) within ``window_days`` of ``today``."""
    horizon, spans = today + timedelta(days=window_days), spans_of(row)
    found = []
    for upstream, downstream in row["dependencies"]:
        up, down = row["tasks"].get(upstream), row["tasks"].get(downstream)
        if not up or not down or up["status"] == ItemStatus.COMPLETED.value:
            continue
        due = spans[downstream].due
        if due is not None and due <= horizon and down["status"] != ItemStatus.COMPLETED.value:
            found.append({"downstream": downstream, "upstream": upstream})
    return found


CLOSED = frozenset(s.value for s in ItemStatus if s.is_closed)  # as the rows store them


def downstream_of(row: Row) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for upstream, downstream in row["dependencies"]:
        found.setdefault(upstream, []).append(downstream)
    return found


def scheduled(task: str, projected: Forecast) -> dict[str, Any]:
    """A task's entry in a critical path's schedule."""
    return {
        "task": task,
        "start": projected.start.isoformat(),
        "due": projected.due.isoformat(),
        "remaining_days": projected.remaining_days,
        "finish": projected.finish.isoformat(),
        "slack_days": projected.slack_days,
    }


def critical_path(row: Row, today: date) -> dict[str, Any]:
    """The chain of declared dependencies projected to finish last on ``today``
    (:func:`domain.schedule.forecast`, :func:`domain.schedule.critical_chain`): its
    tasks, the days of work they still need, the projected finish, the last task's
    due day and the slack against it, and each task's schedule on the chain."""
    tasks = row["tasks"]
    forecasts = forecast(
        spans_of(row),
        row["dependencies"],
        today,
        {key: task["percent"] for key, task in tasks.items()},
        {key for key, task in tasks.items() if task["status"] in CLOSED},
    )
    chain = critical_chain(forecasts, row["dependencies"])
    if not chain:
        return {
            "tasks": [],
            "remaining_days": 0,
            "finish": None,
            "due": None,
            "slack_days": None,
            "schedule": [],
        }
    last = forecasts[chain[-1]]
    return {
        "tasks": chain,
        "remaining_days": sum(forecasts[key].remaining_days for key in chain),
        "finish": last.finish.isoformat(),
        "due": last.due.isoformat(),
        "slack_days": last.slack_days,
        "schedule": [scheduled(key, forecasts[key]) for key in chain],
    }


def bottlenecks(rows: list[Row], today: date) -> list[dict[str, Any]]:
    """Agencies whose late tasks (open past their planned due day) hold up open tasks: per
    agency, the late tasks that do, the open tasks downstream of them (through declared
    dependencies, in every plan) and the other agencies that lead them — most held up
    first."""
    held: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        tasks, after, spans = row["tasks"], downstream_of(row), spans_of(row)
        for key, task in tasks.items():
            due = spans[key].due
            if task["status"] in CLOSED or due is None or due >= today:
                continue
            seen: set[str] = set()
            stack = list(after.get(key, ()))
            while stack:
                down = stack.pop()
                if down not in seen:
                    seen.add(down)
                    stack += after.get(down, ())
            waiting = {d for d in seen if d in tasks and tasks[d]["status"] not in CLOSED}
            if not waiting:
                continue  # late, but holding no one up
            for agency in task["lead"]:
                entry = held.setdefault(agency, {"late": set(), "items": set(), "agencies": set()})
                entry["late"].add(task_ref(row["plan"], key))
                entry["items"] |= {task_ref(row["plan"], d) for d in waiting}
                entry["agencies"] |= {a for d in waiting for a in tasks[d]["lead"]} - {agency}
    ranked = [
        {
            "agency": agency,
            "late_tasks": sorted(entry["late"]),
            "held_tasks": sorted(entry["items"]),
            "held_agencies": sorted(entry["agencies"]),
        }
        for agency, entry in held.items()
    ]
    return sorted(
        ranked,
        key=lambda b: (-len(b["held_tasks"]), -len(b["held_agencies"]), b["agency"]),
    )


class DependencyView(AggregateView):
    name = "dependencies"
    prefixes = ("lienthong.plan.", "lienthong.task.")

    def rows_of(self, aggregate: Plan | Task) -> dict[str, Row | None]:
        if isinstance(aggregate, Plan):
            return {
                aggregate.key: {
                    "plan": aggregate.key,
                    # a plan spanning years (2025–2045) is scheduled to its last
                    "year": aggregate.header.get("end_year") or aggregate.header["year"],
                    "start": aggregate.start.isoformat(),
                    "dependencies": [list(edge) for edge in sorted(aggregate.dependencies)],
                }
            }
        task = aggregate
        row = {
            "plan": task.plan,
            "key": task.key,
            "status": task.status.value,
            "deadline": task.deadline.to_dict(),
            "lead": list(task.lead),
            "coordinating": list(task.coordinating),
            "percent": task.percent,
        }
        return {task_ref(task.plan, task.key): None if task.group else row}
