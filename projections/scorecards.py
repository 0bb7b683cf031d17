"""Scorecards of agencies: one row per (lead agency, task) with what that task
contributes — completed on time, evidence accepted or rejected — summed and ranked
when read, so every score can be explained part by part to the unit that comes last.

Score (0–100) = 50 × on-time completion rate + 50 × evidence acceptance rate; open
obstacles and tasks still open are shown beside it, not scored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from domain.items import ItemStatus
from domain.task import Task
from projections.replay import AggregateView
from projections.runner import Row


def contribution(task: Task, agency: str) -> Row:
    evidence = [e for e in task.evidence.values() if e.submitted_by == agency]
    due = task.deadline.due
    completed = task.status is ItemStatus.COMPLETED
    return {
        "agency": agency,
        "task": f"{task.plan}/task/{task.key}",
        "completed": completed,
        "on_time": completed
        and (due is None or (task.completed_on is not None and task.completed_on <= due)),
        "accepted": sum(1 for e in evidence if e.verdict == "accepted"),
        "rejected": sum(1 for e in evidence if e.verdict == "rejected"),
        "open_obstacles": len(task.obstacles),
    }


def scorecards(rows: dict[str, Row]) -> list[dict[str, Any]]:
    """The agencies ranked by score, best first, each with the parts of its score."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows.values():
        total = totals[row["agency"]]
        total["tasks"] += 1
        for part in ("completed", "on_time", "accepted", "rejected", "open_obstacles"):
            total[part] += int(row[part])
    cards = []
    for agency, total in totals.items():
        judged = total["accepted"] + total["rejected"]
        on_time_rate = total["on_time"] / total["tasks"]
        acceptance_rate = total["accepted"] / judged if judged else 0.0
        score = round(50 * on_time_rate + 50 * acceptance_rate, 1)
        cards.append(
            {
                "agency": agency,
                "score": score,
                "on_time_rate": on_time_rate,
                "acceptance_rate": acceptance_rate,
                **total,
            }
        )
    return sorted(cards, key=lambda card: (-card["score"], card["agency"]))


class ScorecardView(AggregateView):
    name = "scorecards"
    prefixes = ("lienthong.task.",)

    def rows_of(self, task: Task) -> dict[str, Row | None]:
        if task.group:
            return {}
        return {
            f"{agency}|{task.plan}/task/{task.key}": contribution(task, agency)
            for agency in task.lead
        }
