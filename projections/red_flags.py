"""The red flags view: per task and indicator, the states its events left it in, from
which every raise and clear of the plans' rules — with the rule's id and version and
the events that raised and cleared it — is computed for any day (:func:`item_flags`);
per plan, the day its time-based schedule starts, its year, reporting regime and
declared dependencies, from which each item's :class:`~domain.flags.Frame` is read.

Rows hold no clock: a deadline passing raises a flag without an event, so the history
up to a day is a pure function of the stored states and that day (see
:mod:`domain.flags`). Identical consecutive states are kept once.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from operator import attrgetter
from typing import Any, cast
from uuid import UUID

from domain.flags import FlagSpan, Frame, ItemState, RedFlag, flag_history, next_state
from domain.items import TrackedItem
from domain.plan import Plan
from domain.reporting import period_from_label
from domain.schedule import planned_span
from domain.targets import Target
from projections.engine.replay import AggregateView, Replay
from projections.engine.rows import Row, Views
from projections.engine.source import EventSource

# An item state's fields but the event and its day, as a tuple (in C: a rebuild
# compares every event's state with the one before).
_COMPARED = attrgetter(*(f.name for f in fields(ItemState) if f.name not in ("ref", "day")))


def same(a: ItemState, b: ItemState) -> bool:
    """Equal but for the event and its day: the later adds nothing to the history."""
    return bool(_COMPARED(a) == _COMPARED(b))


def add_state(states: list[ItemState], item: TrackedItem, event: Any) -> None:
    """The state ``event`` left ``item`` in, after ``states`` — unless it adds nothing."""
    state = next_state(states[-1] if states else None, item, event)
    if not states or not same(states[-1], state):
        states.append(state)


class RedFlagView(AggregateView):
    name = "red_flags"
    prefixes = ("lienthong.plan.", "lienthong.task.", "lienthong.indicator.")

    def __init__(self, app: EventSource, replay: Replay | None = None) -> None:
        super().__init__(app, replay)
        self.states: dict[UUID, list[ItemState]] = {}

    def apply(self, position: int, event: Any, /) -> None:
        super().apply(position, event)
        item = self.touched.get(event.originator_id)
        if isinstance(item, TrackedItem):
            states = self.states.get(item.id)
            if states is None:
                states = self.states[item.id] = self.earlier_states(event)
            add_state(states, item, event)

    def earlier_states(self, event: Any) -> list[ItemState]:
        """The states of an item met mid-log (a resumed runner), from its stored events."""
        states: list[ItemState] = []
        if event.originator_version == 1:
            return states
        item = None
        stored = self.app.events.get(event.originator_id, lte=event.originator_version - 1)
        for earlier in cast("list[Any]", stored):
            item = earlier.mutate(item)
            add_state(states, item, earlier)
        return states

    def rows_of(self, aggregate: Any) -> dict[str, Row | None]:
        if isinstance(aggregate, Plan):
            row = {
                "plan": aggregate.key,
                "start": aggregate.start.isoformat(),
                "ward_id": aggregate.header.get("ward_id"),
                "ward": aggregate.header.get("ward"),
                "reporting": list(aggregate.header.get("reporting", [])),
                "year": aggregate.header.get("end_year") or aggregate.header.get("year"),
                "dependencies": sorted([up, down] for up, down in aggregate.dependencies),
            }
            return {aggregate.key: row}
        kind = "indicator" if type(aggregate).__name__ == "Indicator" else "task"
        targets = getattr(aggregate, "targets", {})
        return {
            f"{aggregate.plan}/{kind}/{aggregate.key}": {
                "plan": aggregate.plan,
                "kind": kind,
                "key": aggregate.key,
                "group": aggregate.group,
                "lead": list(aggregate.lead),
                "product": bool(aggregate.definition.get("expected_result")),
                "targets": {period: t.to_dict() for period, t in sorted(targets.items())},
                "states": [s.as_row() for s in self.states[aggregate.id]],
            }
        }


def states_of(row: Row) -> list[ItemState]:
    return [ItemState.from_row(s) for s in row["states"]]


def frame_of(rows: dict[str, Row], name: str, today: date) -> Frame:
    """How the item ``name`` is judged: its plan's start, year and regime, the planned
    due days of the tasks declared upstream of it, its lead, product and targets."""
    row = rows[name]
    plan = rows.get(row["plan"], {})
    start = start_of(rows, row["plan"], today)
    year = plan.get("year") or start.year
    upstream = [
        rows.get(f"{row['plan']}/task/{up}")
        for up, down in plan.get("dependencies", [])
        if down == row["key"] and row["kind"] == "task"
    ]
    deadlines = [ItemState.from_row(up["states"][-1]).deadline for up in upstream if up]
    dues = [planned_span(d, start, year).due for d in deadlines if d is not None]
    return Frame.of(
        start,
        year,
        plan.get("reporting", []),
        upstream_dues=tuple(d for d in dues if d is not None),
        units=tuple(row["lead"]),
        product=row["product"],
        targets=tuple((p, Target.from_dict(t)) for p, t in row["targets"].items()),
    )


def item_flags(
    rows: dict[str, Row], name: str, today: date
) -> tuple[list[RedFlag], list[FlagSpan]]:
    """The flags up on the item ``name`` on ``today`` and its whole raise/clear history
    up to it (``rows``: the red_flags view's)."""
    history = flag_history(states_of(rows[name]), frame_of(rows, name, today), today)
    return [s.flag for s in history if s.cleared_on is None], history


def start_of(rows: dict[str, Row], plan: str, today: date) -> date:
    row = rows.get(plan)
    return date.fromisoformat(row["start"]) if row else date(today.year, 1, 1)


def flag_spans(views: Views, name: str, today: date) -> list[FlagSpan]:
    """Every raise and clear of a red flag on an item up to ``today``."""
    if name not in views["red_flags"]:
        return []
    return item_flags(views["red_flags"], name, today)[1]


def raised_flags(
    views: Views, names: list[str], today: date, *, include_cleared: bool
) -> list[tuple[str, list[str], FlagSpan]]:
    """The red flags up on ``today`` on the items ``names`` (with ``include_cleared``,
    their whole raise/clear history), as (item, its lead, the flag), oldest raise first."""
    found = []
    for name in names:
        lead = views["red_flags"].get(name, {}).get("lead", [])
        found += [
            (name, lead, span)
            for span in flag_spans(views, name, today)
            if include_cleared or span.cleared_on is None
        ]
    return sorted(found, key=lambda f: (f[2].raised_on, f[0], f[2].rule))


def led_items(views: Views, agency: str) -> list[str]:
    """The items ``agency`` leads, in every plan."""
    return sorted(
        key for key, row in views["red_flags"].items() if "/" in key and agency in row["lead"]
    )


def missing_reports(
    views: Views, today: date, *, plans: set[str] | None = None, agency: str | None = None
) -> list[dict[str, Any]]:
    """The reports owed on ``today`` (đôn đốc): per item of ``plans`` (every plan when
    None), or led by ``agency``, and per period whose report's due day has passed with
    no report of it — the item, its plan, the units owing, the period and its due day;
    by due day, then item."""
    rows = views["red_flags"]
    names = sorted(
        name
        for name, row in rows.items()
        if "/" in name
        and not row["group"]
        and (plans is None or row["plan"] in plans)
        and (agency is None or agency in row["lead"])
    )
    found = [
        {
            "item": name,
            "plan": rows[name]["plan"],
            "units": list(span.units),
            "period": span.period,
            "due": period_from_label(span.period).due.isoformat(),
        }
        for name in names
        for span in item_flags(rows, name, today)[1]
        if span.rule == "REPORT_MISSING" and span.cleared_on is None
    ]
    return sorted(found, key=lambda entry: (entry["due"], entry["item"]))
