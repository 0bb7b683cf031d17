"""What the pages show, read through the SDK and put in plain values with their
Vietnamese labels (the machine codes kept beside them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lienthong.v1 import resources_pb2

from dashboard.graph import Graph, layout
from lienthong_sdk import CoordinationClient

STATUS_VI = {
    "not_started": "Chưa triển khai",
    "in_progress": "Đang thực hiện",
    "submitted": "Chờ thẩm định",
    "completed": "Hoàn thành",
    "awaiting_completion": "Chờ hoàn thiện",
    "awaiting_evidence": "Chờ minh chứng",
    "cancelled": "Đã hủy",
}
STATUS_ORDER = tuple(STATUS_VI)


def status_name(value: int) -> str:
    return resources_pb2.ItemStatus.Name(value).removeprefix("ITEM_STATUS_").lower()  # type: ignore[arg-type]


def item_of(subject: str) -> str:
    """ "task/3" of "PLAN/task/3"."""
    return subject.split("/", 1)[1] if "/" in subject else subject


@dataclass
class PlanCard:
    plan_id: str
    number: str
    ward: str
    title: str
    coordinator: str
    items: int = 0
    bars: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    awaiting: list[str] = field(default_factory=list)
    open_obstacles: int = 0
    as_of: str = ""


def plan_cards(client: CoordinationClient, as_of: date | None) -> list[PlanCard]:
    return [plan_card(client, plan.plan_id, as_of) for plan in client.list_plans()]


def plan_card(client: CoordinationClient, plan_id: str, as_of: date | None) -> PlanCard:
    """A plan's header and consolidated status: item counts per status (a bar each, as
    a share of the items), overdue items, "Chờ hoàn thiện", open obstacles."""
    plan = client.get_plan(plan_id)
    status = client.get_plan_status(plan_id, as_of)
    card = PlanCard(
        plan_id=plan.plan_id,
        number=plan.number,
        ward=plan.ward,
        title=plan.title,
        coordinator=plan.coordinator,
        items=status.item_count,
        open_obstacles=status.open_obstacles,
        awaiting=[item_of(name) for name in status.awaiting_completion],
        as_of=status.as_of,
    )
    counts = {status_name(c.status): c.count for c in status.by_status}
    for name in STATUS_ORDER:
        count = counts.get(name, 0)
        share = 100 * count / status.item_count if status.item_count else 0
        card.bars.append(
            {"code": name, "label": STATUS_VI[name], "count": count, "share": round(share, 1)}
        )
    card.overdue = [
        {
            "item": item_of(o.name),
            "lead": list(o.lead),
            "deadline": o.deadline,
            "percent": o.percent,
        }
        for o in status.overdue
    ]
    return card


def red_flags(client: CoordinationClient, plan_id: str, as_of: date | None) -> list[dict[str, Any]]:
    return [
        {
            "rule": f.rule,
            "label": f.rule_title or f.rule,
            "message": f.message,
            "item": item_of(f.subject),
            "lead": list(f.lead),
            "period": f.period,
            "raised_on": f.raised_on,
            "version": f.rule_version,
        }
        for f in client.list_red_flags(plan_id=plan_id, as_of=as_of)
    ]


def flag_summary(flags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many flags of each rule are up, most first."""
    counts: dict[str, int] = {}
    labels: dict[str, str] = {}
    for flag in flags:
        counts[flag["rule"]] = counts.get(flag["rule"], 0) + 1
        labels[flag["rule"]] = flag["label"]
    return [
        {"rule": rule, "label": labels[rule], "count": count}
        for rule, count in sorted(counts.items(), key=lambda rc: (-rc[1], rc[0]))
    ]


def owed_by_unit(missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reports owed, per unit to urge: how many, for which periods."""
    units: dict[str, list[dict[str, Any]]] = {}
    for entry in missing:
        for unit in entry["units"]:
            units.setdefault(unit, []).append(entry)
    return [
        {
            "unit": unit,
            "count": len(owed),
            "periods": sorted({e["period"] for e in owed}),
            "oldest_due": min(e["due"] for e in owed),
        }
        for unit, owed in sorted(units.items(), key=lambda u: (-len(u[1]), u[0]))
    ]


def missing_reports(
    client: CoordinationClient, plan_id: str, as_of: date | None
) -> list[dict[str, Any]]:
    return [
        {"item": item_of(m.subject), "units": list(m.units), "period": m.period, "due": m.due}
        for m in client.list_missing_reports(plan_id=plan_id, as_of=as_of)
    ]


def ranking(client: CoordinationClient, plan_id: str, as_of: date | None) -> list[dict[str, Any]]:
    return [
        {
            "rank": card.rank,
            "agency": card.agency_id,
            "score": round(card.score, 1),
            "tasks": card.tasks,
            "indicators": card.indicators,
            "obstacles": card.open_obstacles,
            "parts": [
                {
                    "code": p.name,
                    "label": p.title or p.name,
                    "count": p.count,
                    "of": p.of,
                    "rate": round(100 * p.rate, 1) if p.HasField("rate") else None,
                    "weight": round(100 * p.weight),
                }
                for p in card.parts
            ],
        }
        for card in client.list_scorecards(plan_id=plan_id, as_of=as_of)
    ]


def task_key(name: str) -> str:
    """ "24" of "PLAN/task/24" or "24"."""
    return name.rsplit("/", 1)[-1]


def dependencies(client: CoordinationClient, plan_id: str, as_of: date | None) -> Graph:
    answer = client.get_dependencies(plan_id, as_of)
    graph = layout(
        [(task_key(d.upstream_task), task_key(d.downstream_task)) for d in answer.dependencies],
        late={task_key(t) for b in answer.bottlenecks for t in b.late_tasks},
        held={task_key(t) for b in answer.bottlenecks for t in b.held_tasks},
        blocked={(task_key(b.upstream_task), task_key(b.downstream_task)) for b in answer.blocked},
        critical=[task_key(t) for t in answer.critical_path.tasks],
        bottlenecks=[
            {
                "agency": b.agency_id,
                "late": [task_key(t) for t in b.late_tasks],
                "held": [task_key(t) for t in b.held_tasks],
                "held_agencies": list(b.held_agencies),
            }
            for b in answer.bottlenecks
        ],
    )
    graph.position = answer.answered_on.position
    return graph
