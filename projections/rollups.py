"""Consolidated status, read from the views' rows on a day: per plan, per ward (a ward
has several plans), per agency across plans; indicators that share a code rolled up
across wards; and per-period summaries (month, quarter, half-year, year) that follow
each plan's reporting regime.

Inputs are the rows of ``task_status``, ``kpi_attainment`` and ``red_flags``; nothing
here touches the store, so the same functions answer for the live views and for views
as known at a past time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.flags import RedFlag, expected_percent, in_force
from domain.items import ItemStatus
from projections.engine.rows import Row
from projections.red_flags import item_flags, start_of, states_of

PERIOD_KINDS = ("monthly", "quarterly", "half_yearly", "yearly")
DONE = ItemStatus.COMPLETED.value
FIXING = ItemStatus.AWAITING_COMPLETION.value  # "Chờ hoàn thiện": counts 0 until fixed
UNCONFIRMED_CAP = 99  # the most a task not confirmed complete is credited with


def credited_percent(status: str, percent: int) -> int:
    """The progress a rollup credits a task with: 100 only once its completion is
    confirmed; 0 while it awaits completion ("Chờ hoàn thiện": its evidence was
    rejected); otherwise the reported percent, at most 99 — a task reported at 100%
    awaits evidence ("Chờ minh chứng") and is not done."""
    if status == DONE:
        return 100
    if status == FIXING:
        return 0
    return min(percent, UNCONFIRMED_CAP)


@dataclass(frozen=True)
class TaskReading:
    """A task as read on a day: its row, what the schedule expects, its open flags
    (``percent``: the credited percent, :func:`credited_percent`)."""

    name: str
    plan: str
    lead: tuple[str, ...]
    status: str
    percent: int
    expected: float | None
    flags: tuple[RedFlag, ...]


def expected_by(row: Row, start: date, today: date) -> float | None:
    """The percent the schedule expects on ``today``: linear from the plan's start to
    the due day; for a recurring duty, linear within its current period (year,
    quarter or month); None for a continuous duty or one with no due day."""
    if row["due"]:
        return expected_percent(start, date.fromisoformat(row["due"]), today)
    months = {"yearly": 12, "quarterly": 3, "monthly": 1}.get(row.get("recurrence") or "")
    if months is None:
        return None
    first_month = (today.month - 1) // months * months + 1
    first = date(today.year, first_month, 1)
    after = first_month + months
    end = date(today.year + 1, 1, 1) if after > 12 else date(today.year, after, 1)  # noqa: PLR2004
    return expected_percent(max(first, start), end - timedelta(days=1), today)


def read_tasks(tasks: dict[str, Row], flags: dict[str, Row], today: date) -> list[TaskReading]:
    """Every reportable task (groups left out), judged on ``today``."""
    readings = []
    for name, row in sorted(tasks.items()):
        if row["group"]:
            continue
        start = start_of(flags, row["plan"], today)
        up = item_flags(flags, name, today)[0] if name in flags else []
        readings.append(
            TaskReading(
                name=name,
                plan=row["plan"],
                lead=tuple(row["lead"]),
                status=row["status"],
                percent=credited_percent(row["status"], row["percent"]),
                expected=expected_by(row, start, today),
                flags=tuple(up),
            )
        )
    return readings


def summary(readings: Iterable[TaskReading]) -> dict[str, Any]:
    """Counts, completion, mean percent against the schedule's expectation, flags."""
    chosen = list(readings)
    scheduled = [r.expected for r in chosen if r.expected is not None]
    rules = Counter(flag.rule for r in chosen for flag in r.flags)
    done = sum(1 for r in chosen if r.status == DONE)
    return {
        "tasks": len(chosen),
        "by_status": dict(sorted(Counter(r.status for r in chosen).items())),
        "completed": done,
        "completion_rate": round(done / len(chosen), 4) if chosen else 0.0,
        "mean_percent": round(sum(r.percent for r in chosen) / len(chosen), 1) if chosen else 0.0,
        "mean_expected_percent": round(sum(scheduled) / len(scheduled), 1) if scheduled else None,
        "flagged_tasks": sum(1 for r in chosen if r.flags),
        "flags": dict(sorted(rules.items())),
    }


def rollup(
    readings: list[TaskReading], key: Callable[[TaskReading], Iterable[str]]
) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[TaskReading]] = defaultdict(list)
    for reading in readings:
        for group in key(reading):
            groups[group].append(reading)
    return {group: summary(members) for group, members in sorted(groups.items())}


def by_plan(readings: list[TaskReading]) -> dict[str, dict[str, Any]]:
    return rollup(readings, lambda r: [r.plan])


def by_ward(readings: list[TaskReading], flags: dict[str, Row]) -> dict[str, dict[str, Any]]:
    """Per ward, over all its plans (the ward of a plan is on its red_flags row)."""
    ward = {plan: row.get("ward_id") or plan for plan, row in flags.items() if "/" not in plan}
    return rollup(readings, lambda r: [ward.get(r.plan, r.plan)])


def by_agency(readings: list[TaskReading]) -> dict[str, dict[str, Any]]:
    """Per lead agency, across every plan it leads tasks in."""
    return rollup(readings, lambda r: r.lead)


def number(value: str | None) -> Decimal | None:
    try:
        return Decimal(str(value).replace(",", ".").rstrip("%").strip()) if value else None
    except InvalidOperation:
        return None


def indicators_by_code(
    kpis: dict[str, Row], flags: dict[str, Row], year: str
) -> dict[str, dict[str, Any]]:
    """Indicators that share a code, side by side across wards for ``year``: each ward's
    target, latest value and standing; how many report, how many meet (one in "Chờ
    hoàn thiện" does not until it is fixed); the range and mean of the numeric values."""
    ward = {plan: row.get("ward_id") or plan for plan, row in flags.items() if "/" not in plan}
    coded: dict[str, list[dict[str, Any]]] = defaultdict(list)
    meeting: Counter[str] = Counter()
    for name, row in sorted(kpis.items()):
        period = row["periods"].get(year)
        if not row.get("code") or period is None or row.get("same_as"):
            continue  # a repeated printing (same_as) is counted once, under its first
        coded[row["code"]].append(
            {
                "indicator": name,
                "ward": ward.get(row["plan"], row["plan"]),
                "unit": row["unit"],
                "target": period["target"],
                "value": period["value"],
                "standing": period["standing"],
            }
        )
        meeting[row["code"]] += period["standing"] == "met" and row["status"] != FIXING
    rolled = {}
    for code, members in sorted(coded.items()):
        values = [v for v in (number(m["value"]) for m in members) if v is not None]
        rolled[code] = {
            "indicators": members,
            "wards": len({m["ward"] for m in members}),
            "reporting": sum(1 for m in members if m["value"] is not None),
            "met": meeting[code],
            "min": str(min(values)) if values else None,
            "max": str(max(values)) if values else None,
            "mean": str(round(sum(values) / len(values), 2)) if values else None,
        }
    return rolled


# Periods ---------------------------------------------------------------------------


def periods(kind: str, year: int) -> list[tuple[str, date, date]]:
    """The reporting periods of ``year``: (label, first day, last day)."""
    if kind not in PERIOD_KINDS:
        msg = f"period kind must be one of {', '.join(PERIOD_KINDS)}, not {kind!r}"
        raise ValueError(msg)
    months = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}[kind]
    found = []
    for index in range(12 // months):
        first = date(year, 1 + index * months, 1)
        following = (
            date(year + 1, 1, 1)
            if index == 12 // months - 1
            else (date(year, 1 + (index + 1) * months, 1))
        )
        label = {
            "monthly": f"{year}-{index + 1:02d}",
            "quarterly": f"{year}-Q{index + 1}",
            "half_yearly": f"{year}-H{index + 1}",
            "yearly": str(year),
        }[kind]
        found.append((label, first, following - timedelta(days=1)))
    return found


def period_summaries(
    flags: dict[str, Row], plan: str, kind: str, year: int, today: date
) -> list[dict[str, Any]]:
    """Per period of ``kind`` in ``year`` up to ``today``, for the tasks of ``plan``:
    their status at the period's end (or today), what was completed in it, the flags
    raised in it and those open at its end."""
    names = [
        name
        for name, row in sorted(flags.items())
        if name.startswith(f"{plan}/task/") and not row["group"]
    ]
    items = [states_of(flags[name]) for name in names]
    found = []
    for label, first, last in periods(kind, year):
        if first > today:
            break
        end = min(last, today)
        at_end = [in_force(states, end) for states in items]
        raised: Counter[str] = Counter()
        open_at_end: Counter[str] = Counter()
        completed = 0
        for name, states in zip(names, items, strict=True):
            for span in item_flags(flags, name, end)[1]:
                raised[span.rule] += first <= span.raised_on
                open_at_end[span.rule] += span.cleared_on is None
            before = in_force(states, first - timedelta(days=1))
            state = in_force(states, end)
            was_done = before is not None and before.status == DONE
            completed += state is not None and state.status == DONE and not was_done
        found.append(
            {
                "period": label,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "complete": last <= today,
                "status_at_end": dict(sorted(Counter(s.status for s in at_end if s).items())),
                "completed_in_period": completed,
                "flags_raised": {k: v for k, v in sorted(raised.items()) if v},
                "flags_open_at_end": {k: v for k, v in sorted(open_at_end.items()) if v},
            }
        )
    return found


def reporting_summaries(flags: dict[str, Row], plan: str, year: int, today: date) -> dict[str, Any]:
    """The period summaries the plan's reporting regime asks for (all kinds when the
    plan states none)."""
    regime = flags.get(plan, {}).get("reporting") or list(PERIOD_KINDS)
    return {kind: period_summaries(flags, plan, kind, year, today) for kind in regime}
