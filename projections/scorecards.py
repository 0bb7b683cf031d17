"""Scorecards of agencies: one row per task with what it contributes to each of its
lead units — its deadline and completion, their evidence accepted or rejected, the
months it was reported in — summed per agency and ranked when read on a day, so every
score can be explained part by part to the unit that comes last.

The score (0–100) is the weighted mean of four rates, each shown with its numerator
and denominator:

- ``on_time`` (40%): of the tasks due by that day or already completed, the share
  completed by their due day;
- ``acceptance`` (20%): of the agency's evidence judged so far, the share accepted;
- ``timeliness`` (20%): of the reporting periods that ended while a task was open
  (each plan's finest reporting period, monthly when it states none), the share in
  which the lead reported progress;
- ``unflagged`` (20%): of its tasks, the share with no red flag up that day.

A rate with nothing to judge (no task due yet, no evidence judged) is left out and the
other weights count in proportion. Open obstacles are shown beside the score.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from domain.ids import task_ref
from domain.items import ItemStatus
from domain.task import Task
from projections.engine.replay import AggregateView
from projections.engine.rows import Row, Views
from projections.plans import plan_of
from projections.red_flags import item_flags, start_of

WEIGHTS = {"on_time": 0.4, "acceptance": 0.2, "timeliness": 0.2, "unflagged": 0.2}
FINEST_FIRST = ("monthly", "quarterly", "half_yearly", "yearly")
MONTHS_IN = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}


def row_of(task: Task) -> Row:
    judged: dict[str, dict[str, int]] = {
        agency: {"accepted": 0, "rejected": 0} for agency in task.lead
    }
    for e in task.evidence.values():
        if e.submitted_by in judged and e.verdict in ("accepted", "rejected"):
            judged[e.submitted_by][e.verdict] += 1
    return {
        "task": task_ref(task.plan, task.key),
        "plan": task.plan,
        "lead": list(task.lead),
        "status": task.status.value,
        "due": task.deadline.due.isoformat() if task.deadline.due else None,
        "completed_on": task.completed_on.isoformat() if task.completed_on else None,
        "evidence": judged,
        "open_obstacles": len(task.obstacles),
        "reported_in": sorted({day.strftime("%Y-%m") for day in task.report_days.values()}),
    }


def period_index(day: date, months: int) -> int:
    """Periods of ``months`` months numbered across years (month 1 of year 0 → 0)."""
    return (day.year * 12 + day.month - 1) // months


def reporting_periods(row: Row, start: date, today: date, months: int) -> tuple[int, int]:
    """(periods reported in, periods that ended while the task was open)."""
    end = today
    if row["completed_on"]:
        end = min(end, date.fromisoformat(row["completed_on"]))
    first, current = period_index(start, months), period_index(today, months)
    last = min(period_index(end, months), current - 1)  # only periods that have ended
    due = range(first, last + 1)
    reported = {period_index(date.fromisoformat(f"{m}-01"), months) for m in row["reported_in"]}
    return len(reported & set(due)), len(due)


def parts_of(
    row: Row, agency: str, flags: dict[str, Row], today: date
) -> dict[str, tuple[int, int]]:
    """This task's (numerator, denominator) towards each rate of ``agency``."""
    due = date.fromisoformat(row["due"]) if row["due"] else None
    done = row["status"] == ItemStatus.COMPLETED.value
    on_time = bool(done and (due is None or date.fromisoformat(row["completed_on"]) <= due))
    counts = done or (due is not None and due <= today)
    start = start_of(flags, row["plan"], today)
    regime = flags.get(row["plan"], {}).get("reporting") or ["monthly"]
    finest = next(kind for kind in FINEST_FIRST if kind in regime)
    flagged = row["task"] in flags and bool(item_flags(flags, row["task"], today)[0])
    judged = row["evidence"][agency]
    return {
        "on_time": (int(on_time), int(counts)),
        "acceptance": (judged["accepted"], judged["accepted"] + judged["rejected"]),
        "timeliness": reporting_periods(row, start, today, MONTHS_IN[finest]),
        "unflagged": (int(not flagged), 1),
    }


def scorecards(rows: dict[str, Row], flags: dict[str, Row], today: date) -> list[dict[str, Any]]:
    """The agencies ranked by score on ``today``, best first, each with every part of
    its score (``flags`` are the red_flags view's rows)."""
    totals: dict[str, dict[str, list[int]]] = defaultdict(
        lambda: {part: [0, 0] for part in WEIGHTS}
    )
    extra: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows.values():
        for agency in row["lead"]:
            total = totals[agency]
            for part, (numerator, denominator) in parts_of(row, agency, flags, today).items():
                total[part][0] += numerator
                total[part][1] += denominator
            extra[agency]["tasks"] += 1
            extra[agency]["open_obstacles"] += row["open_obstacles"]
    cards = []
    for agency, total in totals.items():
        rates = {part: (n / d if d else None) for part, (n, d) in total.items()}
        judged = {part: rate for part, rate in rates.items() if rate is not None}
        weight = sum(WEIGHTS[part] for part in judged)
        score = (
            100 * sum(rate * WEIGHTS[part] for part, rate in judged.items()) / weight
            if weight
            else 0.0
        )
        parts = {
            part: {
                "count": n,
                "of": d,
                "rate": round(n / d, 4) if d else None,
                "weight": WEIGHTS[part],
            }
            for part, (n, d) in total.items()
        }
        cards.append({"agency": agency, "score": round(score, 1), "parts": parts, **extra[agency]})
    return sorted(cards, key=lambda card: (-card["score"], card["agency"]))


class ScorecardView(AggregateView):
    name = "scorecards"
    prefixes = ("lienthong.task.",)

    def rows_of(self, task: Task) -> dict[str, Row | None]:
        return {task_ref(task.plan, task.key): None if task.group else row_of(task)}


def ranking(views: Views, plans: set[str] | None, today: date) -> list[dict[str, Any]]:
    """The agencies ranked by score on ``today`` over the tasks of ``plans`` (None:
    every plan), best first."""
    rows = {
        key: row
        for key, row in views["scorecards"].items()
        if plans is None or plan_of(key) in plans
    }
    return scorecards(rows, views["red_flags"], today)
