"""The plans view: one row per plan — its header, its tasks and indicators in the
plan's own order, its declared dependencies and the day its time-based schedule
starts — the definition fields the task and indicator rows carry
(:func:`task_details`, :func:`indicator_details`), and the queries of a plan over
those rows (:func:`plan_summary`, :func:`plan_status`), which the API and the
command line both answer with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from domain.errors import NotFoundError
from domain.ids import indicator_ref, task_ref
from domain.indicator import Indicator
from domain.items import ItemStatus, TrackedItem
from domain.plan import Plan
from domain.reporting import period_from_label
from domain.targets import Target
from domain.task import Task
from projections.engine.replay import AggregateView
from projections.engine.rows import Row, Views, json_safe


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
        "recurrences": [r.value for r in deadline.recurrences],
        "every_months": deadline.every_months or 0,
        "review": deadline.review or "",
        "authority": deadline.authority or "",
        "evidence_items": evidence_rows(task),
    }


def target_row(target: Target, printed: dict[str, Any]) -> Row:
    """A milestone: period → printed wording → what is read in it, and its due day."""
    period = str(printed["period"])
    return {
        "period": period,
        "value": printed["value"],
        "comparator": target.comparator.value,
        "by": printed.get("by") or "",
        "machine_judged": target.machine_judged,
        "due": milestone_due(period),
        "parts": [
            {
                "value": part.text.strip(),
                "comparator": part.comparator.value,
                "figure": figure(part.value),
                "percent": part.percent,
            }
            for part in target.parts
        ],
        "figure": figure(target.value),
        "upper": figure(target.upper),
        "level": target.level or "",
        "percent": target.percent,
    }


def figure(number: Decimal | None) -> str:
    """A figure read in a target, as a decimal string ("" when none)."""
    return "" if number is None else str(number)


def milestone_due(period: str) -> str:
    """A milestone's due day: the last day of its period."""
    return period_from_label(period).last.isoformat()


def indicator_details(indicator: Indicator) -> Row:
    """What an indicator row adds for the API: its definition, latest measurements
    per period, evidence and open obstacles."""
    d = indicator.definition
    periods = sorted({period for period, _ in indicator.measurements.values()})
    return {
        "parent": d.get("parent", ""),
        "section": d.get("section", ""),
        "title": d.get("name", ""),
        "note": d.get("note", ""),
        "targets": [
            target_row(indicator.targets[str(t["period"])], t) for t in d.get("targets", [])
        ],
        "same_as": d.get("same_as", ""),
        "printed_number": d.get("printed_number", ""),
        "measurements": [[p, indicator.latest(p) or ""] for p in periods],
        "evidence_items": evidence_rows(indicator),
        "open_obstacles": sorted(indicator.obstacles),
    }


def row_of(plan: Plan) -> Row:
    return {
        "plan": plan.key,
        "header": json_safe({k: v for k, v in plan.header.items() if k != "budget"}),
        "budget": json_safe(plan.header.get("budget")),
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


# Queries over the plans view and the item views beside it ------------------------


def plan_of(key: str) -> str:
    """The plan a row belongs to: "PLAN", "PLAN/task/K", "agency|PLAN/task/K"."""
    return key.rsplit("|", 1)[-1].split("/", 1)[0]


def plan_row(views: Views, plan: str) -> Row:
    row = views["plans"].get(plan)
    if row is None:
        raise NotFoundError(f"plan {plan} was not found", field="plan_id")
    return row


def items_of(views: Views, plan: Row) -> list[tuple[str, Row]]:
    """A plan's task and indicator rows in the plan's order (name, row)."""
    key = plan["plan"]
    names = [task_ref(key, k) for k in plan["tasks"]]
    found = [(n, views["task_status"].get(n)) for n in names]
    names = [indicator_ref(key, n) for n in plan["indicators"]]
    found += [(n, views["kpi_attainment"].get(n)) for n in names]
    return [(n, r) for n, r in found if r is not None]


def is_overdue(row: Row, today: dt.date) -> bool:
    due: str = row.get("due") or ""
    return bool(due) and due < today.isoformat() and not ItemStatus(row["status"]).is_closed


def plan_status(views: Views, plan_id: str, today: dt.date, position: int = 0) -> dict[str, Any]:
    """The consolidated status of a plan on ``today``: its reportable items by status,
    those "Chờ hoàn thiện", the overdue tasks, open obstacles and dependencies."""
    plan = plan_row(views, plan_id)
    reportable = [(n, r) for n, r in items_of(views, plan) if not r["group"]]
    by_status = {s.value: 0 for s in ItemStatus}
    for _, row in reportable:
        by_status[row["status"]] += 1
    return {
        "plan_id": plan_id,
        "ward": plan["header"]["ward"],
        "number": plan["header"].get("number", ""),
        "as_of": today.isoformat(),
        "items": len(reportable),
        "by_status": by_status,
        "awaiting_completion": [
            n for n, r in reportable if r["status"] == ItemStatus.AWAITING_COMPLETION.value
        ],
        "overdue": [
            {"item": n, "lead": r["lead"], "deadline": r["deadline"], "percent": r["percent"]}
            for n, r in reportable
            if "/task/" in n and is_overdue(r, today)
        ],
        "open_obstacles": sum(len(r["open_obstacles"]) for _, r in reportable),
        "dependencies": [tuple(edge) for edge in plan["dependencies"]],
        "position": position,
    }


def plan_summary(views: Views, plan: Row) -> dict[str, Any]:
    """What a plan holds: indicators (and top-level ones), tasks, duties from the
    plan's body text and task sub-items, with its header's identity."""
    key, header = plan["plan"], plan["header"]
    tasks = [views["task_status"].get(task_ref(key, k)) for k in plan["tasks"]]
    top = [t for t in tasks if t is not None and not t["parent"]]
    duties = sum(1 for t in top if t["from_body"])
    indicators = [views["kpi_attainment"].get(indicator_ref(key, n)) for n in plan["indicators"]]
    return {
        "plan_id": key,
        "ward": header["ward"],
        "ward_id": header["ward_id"],
        "number": header.get("number", ""),
        "year": header["year"],
        "coordinator": header["coordinator"],
        "indicators": len(plan["indicators"]),
        "indicators_top_level": sum(1 for i in indicators if i is not None and not i["parent"]),
        "tasks": len(top) - duties,
        "duties": duties,
        "task_sub_items": sum(1 for t in tasks if t is not None) - len(top),
        "version": plan["version"],
    }
