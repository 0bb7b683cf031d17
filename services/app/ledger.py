"""The Lienthong application: commands and queries over the event store.

Every method takes plain values (strings, numbers, dates) and returns ids or plain
data, never aggregates. A subject is named by its reference (``plan``,
``plan/task/KEY``, ``plan/indicator/NUMBER``); the acting agency by its registry id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, JSONTranscoder, Transcoding
from eventsourcing.postgres import PostgresFactory

from domain.agency import Agency
from domain.clock import Clock
from domain.context import Context
from domain.errors import InvalidValueError, NotFoundError
from domain.facts import Fact
from domain.ids import Ref, SubjectKind, agency_id, parse_ref, plan_id
from domain.indicator import Indicator
from domain.items import TrackedItem
from domain.plan import Plan
from domain.reporting import check_period_begun
from domain.task import Task
from domain.timing import check_as_of, check_occurred_at, check_period_year
from services.app.clock import utc_now
from services.app.commands import Target, handler_for, run
from services.app.turns import Turns
from services.store import recorder

A = TypeVar("A", bound=Aggregate)
Cache = dict[UUID, Aggregate]
PLAN_ISSUED_TOPIC = Plan.Issued.TOPIC


class DateAsISO(Transcoding):
    type = dt.date
    name = "date_iso"

    def encode(self, obj: dt.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> dt.date:
        return dt.date.fromisoformat(data)


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which channel (plain values from the caller)."""

    agency: str
    person: str | None = None
    channel: str = "api"
    message_id: str = ""
    occurred_at: dt.datetime | None = None


def check_timing(ctx: Context, plan: Plan, args: dict[str, Any]) -> None:
    """The times a command declares, against its plan and the clock (:mod:`domain.timing`)."""
    first_year = plan.start.year
    check_occurred_at(ctx, first_year)
    if isinstance(args.get("as_of"), dt.date):
        check_as_of(args["as_of"], ctx, first_year)
    if "period" in args:
        check_period_year(str(args["period"]), ctx, first_year)
        check_period_begun(str(args["period"]), ctx)


# One process at a time creates the store's tables (see Ledger.construct_recorder).
SCHEMA_LOCK = "SELECT pg_advisory_lock(hashtext('lienthong.schema'))"
SCHEMA_UNLOCK = "SELECT pg_advisory_unlock(hashtext('lienthong.schema'))"


class Ledger(Application[UUID]):
    """The system of record for ward plans and everything reported against them."""

    name = "lienthong"

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock
        # This process's writers of one subject take turns (services.app.submissions).
        self.turns = Turns()

    def construct_recorder(self) -> ApplicationRecorder:
        """A process recorder: events, plus the upstream positions (Kafka offsets) they
        came from, written in the same transaction.

        Processes that start together (the children of ``lienthong run``) would create
        the tables together, and PostgreSQL refuses one of two concurrent ``CREATE … IF
        NOT EXISTS`` on its catalog (a duplicate ``pg_class`` or ``pg_type`` row, "tuple
        concurrently updated"); the library's migration row would be inserted twice. So
        they take turns on a session advisory lock, held on a connection of their own
        while the library creates the tables on another: the second finds them made."""
        factory = self.factory
        if not isinstance(factory, PostgresFactory) or not factory.env_create_table():
            return factory.process_recorder()
        with factory.datastore.get_connection() as held:
            held.execute(SCHEMA_LOCK)
            held.commit()  # the lock is the session's: no transaction left idle
            try:
                return factory.process_recorder()
            finally:
                held.execute(SCHEMA_UNLOCK)
                held.commit()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # Plumbing ----------------------------------------------------------------

    def context(self, actor: Actor, acting_as: frozenset[str] = frozenset()) -> Context:
        now = self.clock()
        return Context(
            agency=actor.agency,
            occurred_at=actor.occurred_at or now,
            recorded_at=now,
            channel=actor.channel,
            message_id=actor.message_id or str(uuid4()),
            person=actor.person,
            acting_as=acting_as,
        )

    def load(
        self,
        aggregate_id: UUID,
        kind: type[A],
        name: str,
        field: str = "subject",
        *,
        cache: Cache | None = None,
    ) -> A:
        """The aggregate, from ``cache`` when it holds it (and into it when loaded)."""
        aggregate = cache.get(aggregate_id) if cache is not None else None
        if aggregate is None:
            try:
                aggregate = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(f"{name} was not found", field=field) from None
            if cache is not None:
                cache[aggregate_id] = aggregate
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"{name} is not a {kind.__name__.lower()}", field=field)
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def existing(self, aggregate_ids: Sequence[UUID]) -> set[UUID]:
        """Which of ``aggregate_ids`` have events in the store (one query)."""
        return recorder.existing(self.recorder, aggregate_ids)

    def interrupt(self) -> None:
        """Close the store's connections and cancel what they still run: every call
        still waiting for the store fails now (a server stopping after its grace)."""
        recorder.interrupt(self.recorder)

    def position(self, aggregate_id: UUID, version: int) -> int:
        """The log position (notification id) of one stored event; 0 when unknown."""
        return recorder.position(self.recorder, aggregate_id, version)

    def plan(self, key: str, cache: Cache | None = None) -> Plan:
        return self.load(plan_id(key), Plan, f"plan {key}", "plan_id", cache=cache)

    def agency(self, key: str, cache: Cache | None = None) -> Agency:
        return self.load(agency_id(key), Agency, f"agency {key}", "agency", cache=cache)

    def item(self, subject: str | Ref, cache: Cache | None = None) -> TrackedItem:
        ref = subject if isinstance(subject, Ref) else parse_ref(subject)
        if ref.kind is SubjectKind.TASK:
            return self.load(ref.id, Task, str(ref), cache=cache)
        if ref.kind is SubjectKind.INDICATOR:
            return self.load(ref.id, Indicator, str(ref), cache=cache)
        raise InvalidValueError(f"{ref} is not a task or an indicator", field="subject")

    def collectives_of(
        self, agency: str, units: Sequence[str], cache: Cache | None = None
    ) -> frozenset[str]:
        """The collective units among ``units`` that count ``agency`` as a member."""
        found = set()
        for unit in units:
            known = cache is not None and agency_id(unit) in cache
            if unit == agency or not (known or self.exists(agency_id(unit))):
                continue
            if agency in self.agency(unit, cache).members:
                found.add(unit)
        return frozenset(found)

    def require_may_act(self, agency: str, cache: Cache | None = None) -> None:
        """Refuse a registered collective acting in its own name (only its members act)."""
        if (cache is not None and agency_id(agency) in cache) or self.exists(agency_id(agency)):
            self.agency(agency, cache).require_may_act()

    # Commands ------------------------------------------------------------------

    def prepare(
        self,
        kind: str,
        subject: str,
        actor: Actor,
        args: dict[str, Any],
        evidence: Sequence[dict[str, str]] = (),
        *,
        cache: Cache | None = None,
    ) -> Aggregate:
        """Apply one command in memory and return the changed aggregate, unsaved.

        ``kind`` names the fact asked for (see :mod:`services.app.commands`); ``evidence``
        lists references (sha256, uri, media_type, description) to submit first when
        new — a completion claim without explicit ``evidence`` cites all of them.
        ``cache`` lets a batch of commands work on the same in-memory aggregates.
        """
        handler = handler_for(kind)
        ref = parse_ref(subject)
        if handler.target is Target.PLAN:
            if ref.kind is not SubjectKind.PLAN:
                raise InvalidValueError(f"{kind} is about a plan, not {subject}", field="subject")
            plan = self.plan(ref.plan, cache)
            ctx = self.context(actor)
            self.require_may_act(actor.agency, cache)
            check_timing(ctx, plan, args)
            run(kind, plan, ctx, plan, args)
            return plan
        item = self.item(ref, cache)
        wanted = {Target.TASK: Task, Target.INDICATOR: Indicator}.get(handler.target, TrackedItem)
        if not isinstance(item, wanted):
            raise InvalidValueError(f"{kind} is about a {handler.target.value}", field="subject")
        units = list(item.participants) + list(item.monitors)
        ctx = self.context(actor, self.collectives_of(actor.agency, units, cache))
        self.require_may_act(actor.agency, cache)
        plan = self.plan(item.plan, cache)
        check_timing(ctx, plan, args)
        for reference in evidence:
            known = item.evidence.get(reference.get("sha256", ""))
            # evidence cited again (by a claim) is the same document at the same place;
            # submitting it again, or elsewhere, is refused by the domain
            if known is None or kind == "evidence_submitted" or known.uri != reference.get("uri"):
                item.submit_evidence(ctx, **reference)
        if kind == "completion_claimed" and "evidence" not in args:
            args = {**args, "evidence": [e["sha256"] for e in evidence]}
        run(kind, item, ctx, plan, args)
        return item

    # Queries -----------------------------------------------------------------

    def plan_keys(self) -> list[str]:
        """Every plan in the store, in the order they were first recorded."""
        keys: list[str] = []
        start = 1
        while True:
            batch = self.recorder.select_notifications(start, 500, topics=[PLAN_ISSUED_TOPIC])
            if not batch:
                return keys
            keys.extend(self.load(UUID(str(n.originator_id)), Plan, "plan").key for n in batch)
            start = batch[-1].id + 1

    def tasks_of(self, key: str) -> list[Task]:
        plan = self.plan(key)
        return [self.load(Ref(SubjectKind.TASK, key, k).id, Task, k) for k in plan.tasks]

    def plan_document(self, key: str) -> dict[str, Any]:
        """The plan as a plan file would state it (see ``docs/plan-file-format.md``)."""
        plan = self.plan(key)
        indicators = [self.item(Ref(SubjectKind.INDICATOR, key, n)) for n in plan.indicators]
        tasks = [self.item(Ref(SubjectKind.TASK, key, k)) for k in plan.tasks]
        return {
            "format": "lienthong.plan/v1",
            "plan": {"id": key, **{k: v for k, v in plan.header.items() if k != "budget"}},
            "indicators": [{"number": i.key, **i.definition} for i in indicators],
            "tasks": [{"key": t.key, **t.definition} for t in tasks],
            **({"budget": plan.header["budget"]} if plan.header.get("budget") else {}),
        }

    def item_status(self, subject: str) -> dict[str, Any]:
        item = self.item(subject)
        status: dict[str, Any] = {
            "subject": str(item.ref),
            "status": item.status.value,
            "status_vi": item.status.label_vi,
            "lead": list(item.lead),
            "evidence": {s: e.verdict or "pending" for s, e in item.evidence.items()},
            "open_obstacles": sorted(item.obstacles),
            "version": item.version,
        }
        if isinstance(item, Task):
            status.update(percent=item.percent, deadline=item.deadline.to_dict())
        if isinstance(item, Indicator):
            status["latest"] = {
                p: item.latest(p) for p in sorted({p for p, _ in item.measurements.values()})
            }
        return status

    def events_of(self, subject: str) -> Iterator[dict[str, Any]]:
        """The recorded history of one subject, oldest first (audit)."""
        ref = parse_ref(subject)
        for stored in self.events.get(ref.id):
            yield cast("Fact", stored).provenance()
