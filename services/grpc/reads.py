"""Queries answered from the views' rows: plain functions from rows (and a day) to
protobuf messages, and :class:`Reads`, which serves them from the rows a read is
answered on (its :class:`Basis`): the live in-memory rows, with a cache that a plan's
changed rows invalidate, or — for a bitemporal read — rows replayed from the log as
known at a position and as of a day, kept in a small cache of their own.

The functions run on the event loop: they only read rows, which the loop alone
changes (the live ones, one whole committed batch at a time) or nothing changes (the
replayed ones). A replay runs in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf.message import Message
from lienthong.v1 import plan_service_pb2, resources_pb2

from domain.clock import ward_day
from domain.errors import NotFoundError
from domain.flags import FlagSpan, Frame, expected_figure, expected_percent, rule_title
from domain.items import ItemStatus
from domain.targets import read_target
from projections.engine.known_at import rows_known_at
from projections.engine.live import LiveViews
from projections.engine.rows import Changes, Row, Views
from projections.plans import plan_of, plan_summary
from projections.red_flags import flag_spans, start_of
from services.app.clock import utc_now, ward_today
from services.wire.convert import STATUSES, Checker, from_timestamp, plan_message

T = TypeVar("T")
CACHE_LIMIT = 20_000
REPLAYS = 8  # bitemporal bases kept (least recently used dropped first)
RECORDED_BY = "SELECT max(key) AS last FROM view_audit_trail.rows WHERE data->>'recorded_at' <= %s"


def plan_resource(views: Views, plan: Row) -> resources_pb2.Plan:
    return plan_message(plan_summary(views, plan), plan["header"], plan.get("budget"))


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
        period=span.period,
        units=span.units,
        rule_title=rule_title(span.rule),
    )


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
            recurrences=row["recurrences"],
            every_months=row["every_months"],
            review=row.get("review") or "",
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


def target_message(target: Row) -> resources_pb2.Target:
    """A milestone as printed, with what the system reads in it."""
    return resources_pb2.Target(
        period=target["period"],
        value=target["value"],
        comparator=target["comparator"],
        by=target["by"],
        machine_judged=target.get("machine_judged", True),
        due=target.get("due", ""),
        parts=[resources_pb2.TargetPart(**part) for part in target.get("parts", [])],
        figure=target.get("figure", ""),
        upper=target.get("upper", ""),
        level=target.get("level", ""),
        percent=target.get("percent", False),
    )


def expected_by_now(views: Views, row: Row, period: str, today: dt.date) -> str:
    """What the trajectory to the milestone ``period`` expects on ``today`` ("" when
    nothing)."""
    plan = views["plans"].get(row["plan"])
    start = dt.date.fromisoformat(plan["start"]) if plan else today
    targets = tuple((label, read_target(p["target"])) for label, p in row["periods"].items())
    frame = Frame(start, today.year, "", start, targets=targets)
    figure = expected_figure(frame, period, today)
    return "" if figure is None else str(figure)


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
        targets=[target_message(t) for t in row["targets"]],
        lead=row["lead"],
        monitor=row["monitor"],
        status=STATUSES[ItemStatus(row["status"])],
        status_label=ItemStatus(row["status"]).label_vi,
        measurements=[resources_pb2.Measurement(period=p, value=v) for p, v in row["measurements"]],
        evidence=evidence_messages(row),
        open_obstacles=row["open_obstacles"],
        version=row["version"],
        red_flags=[flag_message(s, name, row["lead"]) for s in spans if s.cleared_on is None],
        code=row["code"] or "",
        note=row["note"],
        same_as=row.get("same_as") or "",
        printed_number=row.get("printed_number") or "",
        attainment=[
            resources_pb2.Attainment(
                period=period,
                target=p["target"],
                comparator=p["comparator"],
                measured_period=p["measured_period"] or "",
                value=p["value"] or "",
                standing=p["standing"],
                ratio=p["attainment"] or "",
                due=p.get("due") or "",
                machine_judged=p.get("machine_judged", True),
                expected=expected_by_now(views, row, period, today),
                parts=[
                    resources_pb2.PartAttainment(
                        target=part["target"], value=part["value"] or "", standing=part["standing"]
                    )
                    for part in p.get("parts", [])
                ],
            )
            for period, p in row["periods"].items()
        ],
    )


@dataclass(frozen=True)
class When:
    """The two times a read names: the day it is about (valid time) and the moment it
    is read as known at (record time); None: not given."""

    day: dt.date | None
    known_at: dt.datetime | None


def when(check: Checker, request: Message) -> When:
    """A read request's ``as_of`` and ``as_known_at``, checked."""
    day = check.date("as_of", request.as_of, required=False)  # type: ignore[attr-defined]
    if not request.HasField("as_known_at"):
        return When(day, None)
    known_at, now = from_timestamp(request.as_known_at), utc_now()  # type: ignore[attr-defined]
    if known_at > now:
        message = f"{known_at.isoformat()} is after the server's clock ({now.isoformat()})"
        check.add("as_known_at", message, "KNOWN_AT_IN_FUTURE")
    return When(day, known_at)


@dataclass
class Replayed:
    """Views replayed from the log, and what was computed from them (they never change)."""

    views: Views
    results: dict[Hashable, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Basis:
    """What a read is answered on: the views' rows, the day it is about and the log
    position they cover; ``replayed`` unless they are the live views."""

    reads: Reads
    views: Views
    day: dt.date
    position: int
    replayed: Replayed | None = None
    known_at: dt.datetime | None = None

    def cached(self, key: Hashable, plan: str | None, compute: Callable[[], T]) -> T:
        """``compute()``, reused while the rows it was computed from stay."""
        key = (key, self.day)
        if self.replayed is None:
            return self.reads.cached(key, plan, compute)
        results = self.replayed.results
        if key not in results:
            if len(results) >= CACHE_LIMIT:
                results.clear()
            results[key] = compute()
        return results[key]  # type: ignore[no-any-return]

    def plan(self, plan_id: str) -> Row:
        """The plan's row; NOT_FOUND when these views do not hold it."""
        row = self.views["plans"].get(plan_id)
        if row is None:
            raise NotFoundError(self.missing(f"plan {plan_id}"), field="plan_id")
        return row

    def missing(self, what: str) -> str:
        if self.known_at is None:
            return f"{what} was not found"
        return (
            f"{what} was not recorded by {self.known_at.isoformat()} (log position {self.position})"
        )

    def message(self) -> plan_service_pb2.ReadBasis:
        return plan_service_pb2.ReadBasis(
            as_of=self.day.isoformat(), position=self.position, replayed=self.replayed is not None
        )


class Reads:
    """The live views' rows, and a cache of what is computed from them that the
    changed rows of a plan (or any change, for queries across plans) invalidate;
    views replayed for bitemporal reads, the last :data:`REPLAYS` of them kept."""

    def __init__(self, live: LiveViews) -> None:
        self.live = live
        self.versions: dict[str, int] = {}
        self.generation = 0
        self.cache: dict[Hashable, tuple[int, Any]] = {}
        self.replays: OrderedDict[tuple[int, dt.date], asyncio.Future[Replayed]] = OrderedDict()
        live.subscribers.add(self.changed)

    async def basis(self, check: Checker, request: Message) -> Basis:
        """The rows to answer ``request`` on, once its fields (``check``) are valid:
        the live ones for today (or a later day) as known now; else the log replayed up
        to the last position recorded by its ``as_known_at`` (default: the position
        the live views reached) as of its day (default: the ward's day at
        ``as_known_at``, else today)."""
        asked = when(check, request)
        check.done()
        today = ward_today()
        if asked.known_at is None and (asked.day is None or asked.day >= today):
            return Basis(self, self.views, asked.day or today, self.live.position)
        if asked.known_at is None:
            day, position = asked.day or today, self.live.position
        else:
            day = asked.day or ward_day(asked.known_at)
            last = await asyncio.to_thread(self.recorded_by, asked.known_at)
            position = min(last, self.live.position)
        replayed = await self.replayed(position, day)
        return Basis(self, replayed.views, day, position, replayed, asked.known_at)

    async def replayed(self, position: int, day: dt.date) -> Replayed:
        """The views as known at ``position`` and as of ``day``: replayed in a thread
        once, then from the cache (concurrent reads of one key share the replay)."""
        key = (position, day)
        found = self.replays.get(key)
        if found is None:
            views = {name: self.live.factories[name] for name in self.views}
            found = self.replays[key] = asyncio.ensure_future(
                asyncio.to_thread(self.replay, views, position, day)
            )
            while len(self.replays) > REPLAYS:
                self.replays.popitem(last=False)
        self.replays.move_to_end(key)
        try:
            return await asyncio.shield(found)
        except BaseException:
            if found.done() and self.replays.get(key) is found:
                del self.replays[key]
            raise

    def replay(self, views: dict[str, Any], position: int, day: dt.date) -> Replayed:
        return Replayed(rows_known_at(self.live.app, views, through=position, as_of=day))

    def recorded_by(self, known_at: dt.datetime) -> int:
        """The last log position recorded at or before ``known_at`` (0: none)."""
        datastore = self.live.app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(RECORDED_BY, (known_at.astimezone(dt.UTC).isoformat(),))
            found = cursor.fetchone()
        return int(found["last"]) if found and found["last"] else 0

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
