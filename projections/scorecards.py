"""Scorecards of agencies: one row per task and indicator with what it contributes to
the units that answer for it — its due day and completion, KPI milestones, evidence
accepted or rejected per submitter, the periods it was reported on, who acted on it —
and one row per collective with its members; summed per agency and ranked when read on
a day, so every score can be explained part by part to the unit that comes last.

The score (0–100) is the weighted mean of four rates, each shown with its numerator
and denominator:

- ``on_time`` (40%): of the tasks due by that day or already completed, the share
  completed by their due day; and of the KPI milestones (an indicator's target for a
  period, due on the period's last day) that are due or already met, the share met by
  a measurement about a day up to the due day;
- ``acceptance`` (20%): of the evidence the unit submitted that was judged so far, the
  share accepted;
- ``timeliness`` (20%): of the reporting periods of the plan's regime
  (:func:`domain.reporting.finest`, quarterly when the plan states none) from the
  plan's start to the item's completion whose report is due
  (:func:`domain.reporting.periods_due`), the share with a report: a progress report
  about a day in the period, a measurement of the period or of a period within it;
- ``unflagged`` (20%): of the items that could have been flagged — judged only from
  the plan's first reporting checkpoint (:func:`domain.reporting.first_checkpoint`) —
  the share with no red flag up that day.

Who answers for an item: its lead units; a collective lead ("Các cơ quan, đơn vị")
is not ranked — the item counts for each member of it that acted on the item
(reported progress or a contribution, measured, submitted evidence), and the
collective is shown apart with its items' figures (:func:`collective_cards`). A
cancelled item counts for nobody. An item in "Chờ hoàn thiện" (evidence rejected)
counts 0 until it is fixed: it keeps its denominators, every numerator is 0, and it
counts in ``on_time`` even before its due day.

A rate with nothing to judge (no task due yet, no evidence judged) is left out and the
other weights count in proportion. Open obstacles are shown beside the score.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from domain.agency import Agency, AgencyKind
from domain.flags import Frame, evidence_window
from domain.ids import indicator_ref, task_ref
from domain.indicator import Indicator, check_period
from domain.items import ItemStatus, TrackedItem
from domain.reporting import (
    Period,
    finest,
    first_checkpoint,
    period_from_label,
    period_of,
    periods_due,
)
from domain.task import Task
from projections.engine.replay import AggregateView
from projections.engine.rows import Row, Views
from projections.plans import plan_of
from projections.red_flags import item_flags, start_of

WEIGHTS = {"on_time": 0.4, "acceptance": 0.2, "timeliness": 0.2, "unflagged": 0.2}
PART_TITLES = {
    "on_time": "Đúng hạn",
    "acceptance": "Minh chứng được chấp nhận",
    "timeliness": "Báo cáo đúng kỳ",
    "unflagged": "Không có cờ đỏ",
}
"""What the ward calls each part of a score (Vietnamese), shown beside its name."""
AGENCY = "agency:"  # the key prefix of an agency's row ("agency:ID")
Part = tuple[int, int]


def period_span(label: str) -> Period:
    """The days a period label (``2026``, ``2026-Q1``, ``2026-H1``, ``2026-03``) covers."""
    year, _, part = check_period(label).partition("-")
    if not part:
        return period_of(date(int(year), 1, 1), "yearly")
    if part[0] in "QH":
        months = 3 if part[0] == "Q" else 6
        kind = "quarterly" if part[0] == "Q" else "half_yearly"
        return period_of(date(int(year), (int(part[1]) - 1) * months + 1, 1), kind)
    return period_of(date(int(year), int(part), 1), "monthly")


def common_fields(item: TrackedItem) -> Row:
    judged: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "rejected": 0})
    for e in item.evidence.values():
        if e.verdict in ("accepted", "rejected"):
            judged[e.submitted_by][e.verdict] += 1
    return {
        "plan": item.plan,
        "lead": list(item.lead),
        "status": item.status.value,
        "completed_on": item.completed_on.isoformat() if item.completed_on else None,
        "evidence": dict(sorted(judged.items())),
        "acted": sorted(item.acted_by),
        "open_obstacles": len(item.obstacles),
    }


def task_row(task: Task) -> Row:
    return {
        "kind": "task",
        **common_fields(task),
        "due": task.deadline.due.isoformat() if task.deadline.due else None,
        "reported": [[day.isoformat()] * 2 for day in sorted(set(task.report_days.values()))],
    }


def reviews(indicator: Indicator, period: str) -> list[list[Any]]:
    """A milestone judged by evidence (a commitment "X", a wording not machine-judged):
    the days the evidence accepted for it was submitted on, each meeting it."""
    frame = Frame(date.min, 0, "", date.min, targets=tuple(indicator.targets.items()))
    first, last = evidence_window(frame, period_from_label(period))
    days = sorted(
        e.submitted_on
        for e in indicator.evidence.values()
        if e.verdict == "accepted" and e.submitted_on is not None
    )
    return [[day.isoformat(), True] for day in days if first <= day <= last]


def indicator_row(indicator: Indicator) -> Row:
    """Per target period (a milestone): its due day and every measurement of its year
    in the order recorded — the day it is about and whether it meets the target."""
    measured = sorted(indicator.measurements.items())
    milestones = {
        period: {
            "due": period_span(period).last.isoformat(),
            "measured": [
                [indicator.measured_on[version].isoformat(), indicator.meets(period, value)]
                for version, (of, value) in measured
                if of.split("-")[0] == period
            ]
            if not target.by_evidence
            else reviews(indicator, period),
        }
        for period, target in sorted(indicator.targets.items())
    }
    spans = sorted(
        {period_span(of) for of, _ in indicator.measurements.values()}
        | {  # an indicator judged by evidence only reports by submitting it
            period_of(e.submitted_on, "monthly")
            for e in indicator.evidence.values()
            if indicator.qualitative and e.submitted_on is not None
        }
    )
    return {
        "kind": "indicator",
        **common_fields(indicator),
        "milestones": milestones,
        "reported": [[span.first.isoformat(), span.last.isoformat()] for span in spans],
    }


class ScorecardView(AggregateView):
    name = "scorecards"
    prefixes = ("lienthong.task.", "lienthong.indicator.", "lienthong.agency.")

    def rows_of(self, aggregate: Any) -> dict[str, Row | None]:
        if isinstance(aggregate, Agency):
            collective = aggregate.profile.get("kind") == AgencyKind.COLLECTIVE
            row = {"agency": aggregate.key, "members": aggregate.members}
            return {f"{AGENCY}{aggregate.key}": row if collective else None}
        if isinstance(aggregate, Task):
            name = task_ref(aggregate.plan, aggregate.key)
            return {name: None if aggregate.group else task_row(aggregate)}
        name = indicator_ref(aggregate.plan, aggregate.key)
        return {name: None if aggregate.group else indicator_row(aggregate)}


# Reading on a day ------------------------------------------------------------------


def task_on_time(row: Row, today: date) -> Part:
    due = date.fromisoformat(row["due"]) if row["due"] else None
    done = row["status"] == ItemStatus.COMPLETED.value
    on_time = done and (due is None or date.fromisoformat(row["completed_on"]) <= due)
    return int(on_time), int(done or (due is not None and due <= today))


def milestones_on_time(row: Row, start: date, today: date) -> Part:
    """(milestones met by their due day, milestones due by ``today`` or met); a
    milestone due before the plan's start is not the plan's to score."""
    hit = counted = 0
    for milestone in row["milestones"].values():
        due = date.fromisoformat(milestone["due"])
        if due < start:
            continue
        known = [ok for day, ok in milestone["measured"] if day <= min(due, today).isoformat()]
        reached = bool(known) and known[-1]
        hit += reached
        counted += reached or due < today
    return hit, counted


def timeliness(row: Row, start: date, kind: str, today: date) -> Part:
    """(periods reported on, periods whose report was due while the item was open)."""
    end = min(today, date.fromisoformat(row["completed_on"])) if row["completed_on"] else today
    due = periods_due(start, end, kind, today)
    spans = [
        (date.fromisoformat(first), date.fromisoformat(last)) for first, last in row["reported"]
    ]
    reported = [p for p in due if any(p.first <= first and last <= p.last for first, last in spans)]
    return len(reported), len(due)


def item_parts(name: str, row: Row, flags: dict[str, Row], today: date) -> dict[str, Part]:
    """What the item contributes to the rates of whoever answers for it, but
    ``acceptance`` (whose evidence: :func:`held_parts`)."""
    start = start_of(flags, row["plan"], today)
    regime = flags.get(row["plan"], {}).get("reporting") or []
    on_time = (
        task_on_time(row, today) if row["kind"] == "task" else milestones_on_time(row, start, today)
    )
    flagged = name in flags and bool(item_flags(flags, name, today)[0])
    judgeable = today > first_checkpoint(start, regime)  # as the flags are
    return {
        "on_time": on_time,
        "timeliness": timeliness(row, start, finest(regime), today),
        "unflagged": (int(judgeable and not flagged), int(judgeable)),
    }


def held_parts(item: dict[str, Part], row: Row, submitters: set[str] | None) -> dict[str, Part]:
    """The item's parts for one holder: ``acceptance`` of the evidence ``submitters``
    submitted (None: anyone's, for a collective); an item in "Chờ hoàn thiện" counts 0."""
    judged = [v for who, v in row["evidence"].items() if submitters is None or who in submitters]
    accepted = sum(v["accepted"] for v in judged)
    parts = {**item, "acceptance": (accepted, accepted + sum(v["rejected"] for v in judged))}
    if row["status"] == ItemStatus.AWAITING_COMPLETION.value:
        parts = {part: (0, of) for part, (_, of) in parts.items()}
        parts["on_time"] = (0, max(parts["on_time"][1], 1))
    return parts


def answering(row: Row, collectives: dict[str, list[str]]) -> set[str]:
    """The units an item counts for: its lead units, and for a collective lead each
    member of it that acted on the item."""
    units: set[str] = set()
    for lead in row["lead"]:
        units |= set(collectives[lead]) & set(row["acted"]) if lead in collectives else {lead}
    return units


def card(agency: str, totals: dict[str, list[int]], counts: dict[str, int]) -> dict[str, Any]:
    rates = {part: (n / d if d else None) for part, (n, d) in totals.items()}
    judged = {part: rate for part, rate in rates.items() if rate is not None}
    weight = sum(WEIGHTS[part] for part in judged)
    score = (
        100 * sum(rate * WEIGHTS[part] for part, rate in judged.items()) / weight if weight else 0.0
    )
    parts = {
        part: {"count": n, "of": d, "rate": round(n / d, 4) if d else None, "weight": WEIGHTS[part]}
        for part, (n, d) in totals.items()
    }
    return {
        "agency": agency,
        "score": round(score, 1),
        "parts": parts,
        "tasks": counts["tasks"],
        "indicators": counts["indicators"],
        "open_obstacles": counts["open_obstacles"],
    }


def tally(
    rows: dict[str, Row], flags: dict[str, Row], today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the units' cards ranked best first, the collectives' cards by id, not ranked)."""
    collectives = {
        key.removeprefix(AGENCY): row["members"]
        for key, row in rows.items()
        if key.startswith(AGENCY)
    }
    totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: {p: [0, 0] for p in WEIGHTS})
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: {"tasks": 0, "indicators": 0, "open_obstacles": 0}
    )
    for name, row in sorted(rows.items()):
        if name.startswith(AGENCY) or row["status"] == ItemStatus.CANCELLED.value:
            continue
        item = item_parts(name, row, flags, today)
        held = {lead: held_parts(item, row, None) for lead in row["lead"] if lead in collectives}
        held |= {unit: held_parts(item, row, {unit}) for unit in answering(row, collectives)}
        for agency, parts in held.items():
            for part, (numerator, denominator) in parts.items():
                totals[agency][part][0] += numerator
                totals[agency][part][1] += denominator
            counts[agency]["tasks" if row["kind"] == "task" else "indicators"] += 1
            counts[agency]["open_obstacles"] += row["open_obstacles"]
    cards = [card(agency, total, counts[agency]) for agency, total in sorted(totals.items())]
    units = [c for c in cards if c["agency"] not in collectives]
    apart = [c for c in cards if c["agency"] in collectives]
    return sorted(units, key=lambda c: (-c["score"], c["agency"])), apart


def scorecards(rows: dict[str, Row], flags: dict[str, Row], today: date) -> list[dict[str, Any]]:
    """The units ranked by score on ``today``, best first, each with every part of its
    score (``flags`` are the red_flags view's rows); collectives are not ranked."""
    return tally(rows, flags, today)[0]


def standings(
    views: Views, plans: set[str] | None, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Over the items of ``plans`` (None: every plan): the units ranked by score on
    ``today``, best first, and apart the collectives' cards."""
    rows = {
        key: row
        for key, row in views["scorecards"].items()
        if plans is None or key.startswith(AGENCY) or plan_of(key) in plans
    }
    return tally(rows, views["red_flags"], today)


def ranking(views: Views, plans: set[str] | None, today: date) -> list[dict[str, Any]]:
    """The units ranked by score on ``today`` over the items of ``plans`` (None: every
    plan), best first; collectives are not ranked (see :func:`standings`)."""
    return standings(views, plans, today)[0]
