"""The cross-agency dependencies view: per plan, the graph of its tasks — declared
dependencies plus lead/coordinating relations — and, per agency, whom it waits on
and who waits on it. Rows hold no clock: which tasks are blocked on a given day
(an upstream not completed while the downstream is due soon) is judged when read,
with :func:`blocked`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from domain.ids import plan_id, task_id
from domain.items import ItemStatus
from domain.plan import Plan
from domain.task import Task
from projections.replay import AggregateView
from projections.runner import Row


def waits(waiter: str, task: str, on: str, upstream: str, reason: str) -> dict[str, str]:
    return {"agency": waiter, "task": task, "on": on, "upstream": upstream, "reason": reason}


def relations(plan: Plan, tasks: dict[str, Task]) -> list[dict[str, str]]:
    """Who waits on whom: a downstream task's leads on an upstream task's leads
    ("dependency"); a task's leads on its coordinating units ("coordination")."""
    found = []
    for upstream, downstream in sorted(plan.dependencies):
        if upstream in tasks and downstream in tasks:
            for waiter in tasks[downstream].lead:
                found += [
                    waits(waiter, downstream, lead, upstream, "dependency")
                    for lead in tasks[upstream].lead
                ]
    for key, task in sorted(tasks.items()):
        for waiter in task.lead:
            found += [
                waits(waiter, key, helper, key, "coordination") for helper in task.coordinating
            ]
    return [w for w in found if w["agency"] != w["on"]]


def row_of(plan: Plan, tasks: dict[str, Task]) -> Row:
    edges = relations(plan, tasks)
    agencies: dict[str, dict[str, list[dict[str, str]]]] = {}
    for edge in edges:
        agencies.setdefault(edge["agency"], {"waits_on": [], "waited_by": []})["waits_on"].append(
            edge
        )
        agencies.setdefault(edge["on"], {"waits_on": [], "waited_by": []})["waited_by"].append(edge)
    statuses = {
        key: {
            "status": t.status.value,
            "due": t.deadline.due.isoformat() if t.deadline.due else None,
        }
        for key, t in tasks.items()
    }
    return {
        "plan": plan.key,
        "dependencies": [list(edge) for edge in sorted(plan.dependencies)],
        "agencies": dict(sorted(agencies.items())),
        "tasks": dict(sorted(statuses.items())),
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


class DependencyView(AggregateView):
    name = "dependencies"
    prefixes = ("lienthong.plan.", "lienthong.task.")

    def known(self, aggregate_id: UUID) -> Any | None:
        """An aggregate as replayed so far, else as stored (None if not recorded)."""
        replayed = self.replay.aggregates.get(aggregate_id)
        if replayed is None and self.app.exists(aggregate_id):
            return self.app.repository.get(aggregate_id)
        return replayed

    def rows_of(self, aggregate: Plan | Task) -> dict[str, Row | None]:
        key = aggregate.key if isinstance(aggregate, Plan) else aggregate.plan
        plan = self.known(plan_id(key))
        if plan is None:
            return {}
        tasks = {k: self.known(task_id(key, k)) for k in plan.tasks}
        return {key: row_of(plan, {k: t for k, t in tasks.items() if t is not None})}
