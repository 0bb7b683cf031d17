"""Queries answered from the views' rows: plain functions from rows (and a day) to
protobuf messages, and :class:`Reads`, which serves them from the live in-memory
rows with a cache that a plan's changed rows invalidate.

Everything here runs on the event loop: it only reads the in-memory rows, which the
loop alone changes, one whole committed batch at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from lienthong.v1 import resources_pb2

from domain.flags import FlagSpan, expected_percent
from domain.items import ItemStatus
from projections.engine.live import LiveViews
from projections.engine.rows import Changes, Row, Views
from projections.plans import plan_of, plan_summary
from projections.red_flags import item_flags, start_of
from services.wire.convert import STATUSES, plan_message

T = TypeVar("T")
CACHE_LIMIT = 20_000


def plan_resource(views: Views, plan: Row) -> resources_pb2.Plan:
    return plan_message(plan_summary(views, plan), plan["header"])


def flag_message(span: FlagSpan, subject: str, lead: list[str]) -> resources_pb2.RedFlag:
    return resources_pb2.RedFlag(
        rule=span.rule,
        message=span.message,
        rule_version=span.version,
        raised_on=span.raised_on.isoformat(),
        raised_by=span.raised_by,
        raised_at_event=span.raised_at_event,
        cleared_on=span.cleared_on.isoformat() if span.cleared_on else "",
        cleared_by=span.cleared_by or "",
        subject=subject,
        lead=lead,
    )


def flag_spans(views: Views, name: str, today: dt.date) -> list[FlagSpan]:
    """Every raise and clear of a red flag on an item up to ``today``."""
    row = views["red_flags"].get(name)
    if row is None:
        return []
    return item_flags(row, start_of(views["red_flags"], plan_of(name), today), today)[1]


def evidence_messages(row: Row) -> list[resources_pb2.Evidence]:
    return [resources_pb2.Evidence(**e) for e in row["evidence_items"]]


def task_resource(
    views: Views, name: str, row: Row, today: dt.date, *, history: bool = False
) -> resources_pb2.Task:
    spans = flag_spans(views, name, today)
    start = start_of(views["red_flags"], row["plan"], today)
    due = dt.date.fromisoformat(row["due"]) if row["due"] else None
    return resources_pb2.Task(
        name=name,
        plan_id=row["plan"],
        key=row["key"],
        number=row["number"],
        parent=row["parent"],
        group=row["group"],
        from_body=row["from_body"],
        section=row["section"],
        section_title=row["section_title"],
        text=row["text"],
        lead=row["lead"],
        coordinating=row["coordinating"],
        expected_result=row["expected_result"],
        deadline=resources_pb2.Deadline(
            text=row["deadline"],
            kind=row["deadline_kind"],
            due=row["due"] or "",
            recurrence=row["recurrence"],
            authority=row["authority"],
        ),
        status=STATUSES[ItemStatus(row["status"])],
        status_label=ItemStatus(row["status"]).label_vi,
        percent=row["percent"],
        evidence=evidence_messages(row),
        open_obstacles=row["open_obstacles"],
        red_flags=[flag_message(s, name, row["lead"]) for s in spans if s.cleared_on is None],
        version=row["version"],
        flag_history=[flag_message(s, name, row["lead"]) for s in spans] if history else [],
        expected_percent=expected_percent(start, due, today) if due else 0.0,
        last_report_as_of=row["last_report_as_of"] or "",
    )


def indicator_resource(
    views: Views, name: str, row: Row, today: dt.date
) -> resources_pb2.Indicator:
    spans = flag_spans(views, name, today)
    return resources_pb2.Indicator(
        name=name,
        plan_id=row["plan"],
        number=row["number"],
        parent=row["parent"],
        group=row["group"],
        section=row["section"],
        title=row["title"],
        unit=row["unit"] or "",
        targets=[resources_pb2.Target(**t) for t in row["targets"]],
        lead=row["lead"],
        monitor=row["monitor"],
        status=STATUSES[ItemStatus(row["status"])],
        status_label=ItemStatus(row["status"]).label_vi,
        measurements=[resources_pb2.Measurement(period=p, value=v) for p, v in row["measurements"]],
        evidence=evidence_messages(row),
        open_obstacles=row["open_obstacles"],
        version=row["version"],
        red_flags=[flag_message(s, name, row["lead"]) for s in spans if s.cleared_on is None],
        attainment=[
            resources_pb2.Attainment(
                period=period,
                target=p["target"],
                comparator=p["comparator"],
                measured_period=p["measured_period"] or "",
                value=p["value"] or "",
                standing=p["standing"],
                ratio=p["attainment"] or "",
            )
            for period, p in row["periods"].items()
        ],
    )


class Reads:
    """The live views' rows, and a cache of what is computed from them that the
    changed rows of a plan (or any change, for queries across plans) invalidate."""

    def __init__(self, live: LiveViews) -> None:
        self.live = live
        self.versions: dict[str, int] = {}
        self.generation = 0
        self.cache: dict[Hashable, tuple[int, Any]] = {}
        live.subscribers.add(self.changed)

    @property
    def views(self) -> Views:
        return {name: f.rows for name, f in self.live.followed.items() if f.in_memory}

    def changed(self, changes: Changes, _position: int) -> None:
        self.generation += 1
        for rows in changes.values():
            for plan in {plan_of(key) for key in rows}:
                self.versions[plan] = self.versions.get(plan, 0) + 1

    def cached(self, key: Hashable, plan: str | None, compute: Callable[[], T]) -> T:
        """``compute()``, reused while the plan's rows (or, with no plan, any rows) stay."""
        version = self.generation if plan is None else self.versions.get(plan, 0)
        hit = self.cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]  # type: ignore[no-any-return]
        if len(self.cache) >= CACHE_LIMIT:
            self.cache.clear()
        value = compute()
        self.cache[key] = (version, value)
        return value
