"""The task status view: one row per task — status, percent, deadline, evidence,
open obstacles — built by replaying the domain's own events (pure code).

Rows hold only what the log says (no clock, no log positions): flags and the percent
expected by a given day are computed from a row when it is read, and any interleaving
of the same per-task event sequences gives the same rows.
"""

from __future__ import annotations

from domain.ids import task_ref
from domain.task import Task
from projections.engine.replay import AggregateView
from projections.engine.rows import Row
from projections.plans import task_details


def row_of(task: Task) -> Row:
    verdicts = [e.verdict or "pending" for e in task.evidence.values()]
    return {
        "plan": task.plan,
        "key": task.key,
        "group": task.group,
        "lead": list(task.lead),
        "coordinating": list(task.coordinating),
        "status": task.status.value,
        "percent": task.percent,
        "deadline": task.deadline.text,
        "due": task.deadline.due.isoformat() if task.deadline.due else None,
        "last_report_as_of": task.last_as_of.isoformat() if task.last_as_of else None,
        "evidence": {v: verdicts.count(v) for v in sorted(set(verdicts))},
        "open_obstacles": sorted(task.obstacles),
        "version": task.version,
        **task_details(task),
    }


class TaskStatusView(AggregateView):
    name = "task_status"
    prefixes = ("lienthong.task.",)

    def rows_of(self, task: Task) -> dict[str, Row | None]:
        return {task_ref(task.plan, task.key): row_of(task)}
