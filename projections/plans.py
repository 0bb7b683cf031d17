"""The plans view: one row per plan — its header, its tasks and indicators in the
plan's own order, its declared dependencies and the day its time-based schedule
starts — and the definition fields the task and indicator rows carry for the API
(:func:`task_details`, :func:`indicator_details`)."""

from __future__ import annotations

from typing import Any

from domain.indicator import Indicator
from domain.items import TrackedItem
from domain.plan import Plan
from domain.task import Task
from projections.engine.replay import AggregateView
from projections.engine.rows import Row, json_safe


def evidence_rows(item: TrackedItem) -> list[Row]:
    return [
        {
            "sha256": e.sha256,
            "uri": e.uri,
            "media_type": e.media_type,
            "description": e.description,
            "submitted_by": e.submitted_by,
            "verdict": e.verdict or "pending",
            "quality": e.quality.value if e.quality else "",
        }
        for e in item.evidence.values()
    ]


def task_details(task: Task) -> Row:
    """What a task row adds for the API: its definition as filed, its evidence."""
    d, deadline = task.definition, task.deadline
    return {
        "number": str(d.get("number", "")),
        "parent": d.get("parent", ""),
        "from_body": bool(d.get("from_body")),
        "section": d.get("section", ""),
        "section_title": d.get("section_title", ""),
        "text": d.get("text", ""),
        "expected_result": d.get("expected_result", ""),
        "deadline_kind": deadline.kind.value,
        "recurrence": deadline.recurrence.value if deadline.recurrence else "",
        "authority": deadline.authority or "",
        "evidence_items": evidence_rows(task),
    }


def indicator_details(indicator: Indicator) -> Row:
    """What an indicator row adds for the API: its definition, latest measurements
    per period, evidence and open obstacles."""
    d = indicator.definition
    periods = sorted({period for period, _ in indicator.measurements.values()})
    return {
        "parent": d.get("parent", ""),
        "section": d.get("section", ""),
        "title": d.get("name", ""),
        "targets": [
            {
                "period": str(t["period"]),
                "value": t["value"],
                "comparator": indicator.targets[str(t["period"])].comparator.value,
                "by": t.get("by") or "",
            }
            for t in d.get("targets", [])
        ],
        "measurements": [[p, indicator.latest(p) or ""] for p in periods],
        "evidence_items": evidence_rows(indicator),
        "open_obstacles": sorted(indicator.obstacles),
    }


def row_of(plan: Plan) -> Row:
    return {
        "plan": plan.key,
        "header": json_safe({k: v for k, v in plan.header.items() if k != "budget"}),
        "tasks": list(plan.tasks),
        "indicators": list(plan.indicators),
        "dependencies": [list(edge) for edge in sorted(plan.dependencies)],
        "start": plan.start.isoformat(),
        "version": plan.version,
    }


class PlanView(AggregateView):
    name = "plans"
    prefixes = ("lienthong.plan.",)

    def rows_of(self, aggregate: Any) -> dict[str, Row | None]:
        return {aggregate.key: row_of(aggregate)}
