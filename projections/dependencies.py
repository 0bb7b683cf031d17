"""The cross-agency dependencies view: a row per plan (its declared dependencies and
the day its schedule starts) and a row per task (status, due day, percent, lead and
coordinating units), each a function of its own aggregate alone. :func:`graphs`
assembles a plan's graph when read — declared dependencies plus lead/coordinating
relations, and per agency whom it waits on and who waits on it — and the day-dependent
judgements read it: :func:`blocked`, :func:`critical_path`, :func:`bottlenecks`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.ids import task_ref
from domain.items import ItemStatus
from domain.plan import Plan
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


def blocked(row: Row, today: date, window_days: int = 30) -> list[dict[str, str]]:
    """Declared dependencies whose upstream is not completed while the downstream is
    due within ``window_days`` of ``today``."""
    horizon = today + timedelta(days=window_days)
    found = []
    for upstream, downstream in row["dependencies"]:
        up, down = row["tasks"].get(upstream), row["tasks"].get(downstream)
        if not up or not down or up["status"] == ItemStatus.COMPLETED.value or not down["due"]:
            continue
        if (
            date.fromisoformat(down["due"]) <= horizon
            and down["status"] != ItemStatus.COMPLETED.value
        ):
            found.append({"downstream": downstream, "upstream": upstream})
    return found


CLOSED = frozenset(s.value for s in ItemStatus if s.is_closed)  # as the rows store them


def downstream_of(row: Row) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for upstream, downstream in row["dependencies"]:
        found.setdefault(upstream, []).append(downstream)
    return found


def remaining_days(task: Row, start: date) -> int:
    """The days left on a task at its planned pace: its span from the plan's start to
    its due day, times the share not yet done (0 when closed; 0 span with no due day)."""
    if task["status"] in CLOSED or not task["due"]:
        return 0
    span = max((date.fromisoformat(task["due"]) - start).days, 1)
    return int(-(-span * (100 - task["percent"]) // 100))


def critical_path(row: Row, today: date) -> dict[str, Any]:
    """The chain of declared dependencies that finishes last if each open task, in
    order, takes the days its planned pace leaves (:func:`remaining_days`): its tasks,
    the projected finish and the slack against the last task's due day."""
    start, tasks, after = date.fromisoformat(row["start"]), row["tasks"], downstream_of(row)
    finish: dict[str, tuple[int, list[str]]] = {}

    def longest(key: str) -> tuple[int, list[str]]:
        # the DAG is acyclic (the plan refuses cycles); memoised depth-first
        if key not in finish:
            own = remaining_days(tasks[key], start) if key in tasks else 0
            tails = [longest(d) for d in after.get(key, ())]
            days, tail = max(tails, default=(0, []), key=lambda t: (t[0], len(t[1])))
            finish[key] = (own + days, [key, *tail])
        return finish[key]

    roots = sorted({u for u, _ in row["dependencies"]})
    days, path = max((longest(r) for r in roots), default=(0, []), key=lambda t: (t[0], len(t[1])))
    if not path:
        return {"tasks": [], "remaining_days": 0, "finish": None, "due": None, "slack_days": None}
    due = tasks.get(path[-1], {}).get("due")
    projected = today + timedelta(days=days)
    slack = (date.fromisoformat(due) - projected).days if due else None
    return {
        "tasks": path,
        "remaining_days": days,
        "finish": projected.isoformat(),
        "due": due,
        "slack_days": slack,
    }


def bottlenecks(rows: list[Row], today: date) -> list[dict[str, Any]]:
    """Agencies whose late tasks (open past their due day) hold up open tasks: per
    agency, the late tasks that do, the open tasks downstream of them (through declared
    dependencies, in every plan) and the other agencies that lead them — most held up
    first."""
    held: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        tasks, after = row["tasks"], downstream_of(row)
        for key, task in tasks.items():
            late = (
                task["status"] not in CLOSED
                and task["due"]
                and date.fromisoformat(task["due"]) < today
            )
            if not late:
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
                    "start": aggregate.start.isoformat(),
                    "dependencies": [list(edge) for edge in sorted(aggregate.dependencies)],
                }
            }
        task = aggregate
        row = {
            "plan": task.plan,
            "key": task.key,
            "status": task.status.value,
            "due": task.deadline.due.isoformat() if task.deadline.due else None,
            "lead": list(task.lead),
            "coordinating": list(task.coordinating),
            "percent": task.percent,
        }
        return {task_ref(task.plan, task.key): None if task.group else row}
