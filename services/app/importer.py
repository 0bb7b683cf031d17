"""Importing plan files: validate everything, store nothing unless all is valid,
record amendments (not a new plan) when a file changed, and nothing when it didn't.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate

from domain.agency import Agency
from domain.clock import WARD_TIME
from domain.context import Context
from domain.errors import DomainError
from domain.ids import agency_id, indicator_id, plan_id, task_id
from domain.indicator import Indicator
from domain.items import TrackedItem
from domain.plan import Plan
from domain.task import Task
from services.app.ledger import Actor, Ledger
from services.app.planfile import PlanFile, Problem, Registry, read_plan, read_registry

REGISTRY_ACTOR = "system.registry"
AGENCIES_ENV = "LIENTHONG_AGENCIES"
DEFAULT_REGISTRY = Path("data/agencies.yaml")


def registries_from_env() -> tuple[Path, ...]:
    """The agency registry files ``LIENTHONG_AGENCIES`` names (several separated by
    ``os.pathsep``, read as one), else :data:`DEFAULT_REGISTRY`."""
    value = os.environ.get(AGENCIES_ENV, "")
    named = tuple(Path(part.strip()) for part in value.split(os.pathsep) if part.strip())
    return named or (DEFAULT_REGISTRY,)


Progress = Callable[[str], None]


class ImportFailedError(Exception):
    """The files have problems; nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s); nothing was stored")
        self.problems = list(problems)


@dataclass
class ImportReport:
    plans: list[dict[str, Any]] = field(default_factory=list)
    agencies_registered: int = 0
    agencies_updated: int = 0
    events: int = 0
    # what was stored but a person should look at (targets not machine-judged)
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plans": self.plans,
            "warnings": [w.as_dict() for w in self.warnings],
            "agencies_registered": self.agencies_registered,
            "agencies_updated": self.agencies_updated,
            "events": self.events,
        }


@dataclass
class Batch:
    """Aggregates changed by one import, saved together in one transaction."""

    app: Ledger
    reason: str
    actor: Actor | None = None  # who imports (None: each plan's coordination office)
    # who authorised an import made in the offices' names (an operator at the CLI): its
    # events name the operator as their person, and its channel as theirs
    authorised_by: Actor | None = None
    aggregates: list[Aggregate] = field(default_factory=list)

    def add(self, aggregate: Aggregate) -> None:
        if aggregate.pending_events:
            self.aggregates.append(aggregate)

    def context(
        self, office: str, message_id: str, occurred_at: dt.datetime | None = None
    ) -> Context:
        """The context of a plan's import: as the actor, else as its ``office``."""
        now = self.app.clock()
        if self.actor is None:
            by = self.authorised_by
            if by is None:
                return Context(office, occurred_at or now, now, "import", message_id)
            return Context(office, occurred_at or now, now, by.channel, message_id, by.agency)
        actor = self.actor
        return Context(
            actor.agency, actor.occurred_at or now, now, actor.channel, message_id, actor.person
        )


def read_all(
    paths: Sequence[Path], registry_path: Path | Sequence[Path]
) -> tuple[Registry, list[PlanFile], list[Problem]]:
    registry = read_registry(registry_path)
    files = [read_plan(path, registry) for path in paths]
    problems = list(registry.problems)
    seen: dict[str, str] = {}
    for plan_file in files:
        problems.extend(plan_file.problems)
        if plan_file.key and plan_file.key in seen:
            problems.append(
                Problem(
                    plan_file.file,
                    1,
                    "plan.id",
                    "PLAN_DUPLICATE",
                    f"{plan_file.key!r} is also in {seen[plan_file.key]}",
                )
            )
        seen.setdefault(plan_file.key, plan_file.file)
    return registry, files, sorted(problems)


def import_plans(
    app: Ledger,
    paths: Sequence[Path],
    registry_path: Path | Sequence[Path],
    *,
    reason: str = "",
    progress: Progress = lambda _: None,
    actor: Actor | None = None,
    authorised_by: Actor | None = None,
) -> ImportReport:
    """Import plan files atomically; raises :class:`ImportFailedError` listing every
    problem of the files. ``actor`` is who issues or amends the plans (the domain
    lets only a plan's coordination office do it: a refusal is raised as the
    :class:`~domain.errors.DomainError` it is); without one, the operator's import
    acts as each plan's own coordination office, and ``authorised_by`` (an operator:
    ``Actor(agency="operator:NAME", channel="cli")``) is recorded as the person who
    authorised it, through its channel."""
    progress(f"checking {len(paths)} plan file(s) against the agency registry")
    registry, files, problems = read_all(paths, registry_path)
    if problems:
        raise ImportFailedError(problems)
    report = ImportReport(warnings=sorted(w for f in files for w in f.warnings))
    batch = Batch(app, reason, actor, authorised_by)
    problems = []
    _register_agencies(batch, registry, report)
    for plan_file in files:
        progress(f"preparing {plan_file.key} from {plan_file.file}")
        try:
            report.plans.append(
                _prepare_plan(
                    batch, plan_file, reason or f"plan file {Path(plan_file.file).name} changed"
                )
            )
        except DomainError as error:
            if error.kind == "forbidden":
                raise  # not a problem of the file: of who sent it
            problems.append(
                Problem(plan_file.file, 1, error.field or "-", error.code, error.message)
            )
    if problems:
        raise ImportFailedError(problems)
    report.events = sum(len(a.pending_events) for a in batch.aggregates)
    progress(f"recording {report.events} event(s) in one transaction")
    app.save(*batch.aggregates)
    return report


def _register_agencies(batch: Batch, registry: Registry, report: ImportReport) -> None:
    ctx = batch.context(REGISTRY_ACTOR, f"registry:{registry.file}")
    for key, record in registry.agencies.items():
        profile = {k: v for k, v in record.items() if k != "id"}
        if batch.app.exists(agency_id(key)):
            agency = batch.app.agency(key)
            if agency.update(ctx, profile=profile, reason="agency registry changed"):
                report.agencies_updated += 1
        else:
            agency = Agency.register(ctx, id=agency_id(key), key=key, profile=profile)
            report.agencies_registered += 1
        batch.add(agency)


def _issued_at(header: dict[str, Any]) -> dt.datetime | None:
    issued_on = header.get("issued_on")
    if not issued_on:
        return None
    return dt.datetime.combine(dt.date.fromisoformat(issued_on), dt.time(), WARD_TIME)


def _prepare_plan(batch: Batch, plan_file: PlanFile, reason: str) -> dict[str, Any]:
    key = plan_file.key
    header = plan_file.header
    task_keys = [k for k, _ in plan_file.task_definitions()]
    numbers = [n for n, _ in plan_file.indicator_definitions()]
    message_id = f"plan-file:{plan_file.sha256}"
    summary: dict[str, Any] = {"plan_id": key, "file": plan_file.file}
    if not batch.app.exists(plan_id(key)):
        ctx = batch.context(header["coordinator"], message_id, _issued_at(header))
        batch.add(
            Plan.issue(
                ctx, id=plan_id(key), key=key, header=header, tasks=task_keys, indicators=numbers
            )
        )
        for task_key, definition in plan_file.task_definitions():
            batch.add(
                Task.assign(
                    ctx, id=task_id(key, task_key), plan=key, key=task_key, definition=definition
                )
            )
        for number, definition in plan_file.indicator_definitions():
            batch.add(
                Indicator.define(
                    ctx, id=indicator_id(key, number), plan=key, key=number, definition=definition
                )
            )
        return {**summary, "action": "issued"}
    plan = batch.app.plan(key)
    coordinator = plan.coordinator
    ctx = batch.context(coordinator, message_id)
    document = f"{header.get('number', '')} ({Path(plan_file.file).name})".strip()
    changed = plan.amend(
        ctx, header=header, tasks=task_keys, indicators=numbers, reason=reason, document=document
    )
    batch.add(plan)
    amended = _amend_items(batch, ctx, plan, plan_file, reason=reason, document=document)
    return {
        **summary,
        "action": "amended" if changed or amended else "unchanged",
        "items_amended": amended,
    }


def _amend_items(
    batch: Batch, ctx: Context, plan: Plan, plan_file: PlanFile, *, reason: str, document: str
) -> int:
    """Amend, add and cancel items so the store matches the file; returns how many changed."""
    key, coordinator = plan.key, plan.coordinator
    wanted: list[tuple[Any, Any, str, dict[str, Any]]] = [
        (task_id(key, k), Task.assign, k, d) for k, d in plan_file.task_definitions()
    ] + [
        (indicator_id(key, n), Indicator.define, n, d) for n, d in plan_file.indicator_definitions()
    ]
    changed = 0
    for aggregate_id, create, item_key, definition in wanted:
        if not batch.app.exists(aggregate_id):
            batch.add(create(ctx, id=aggregate_id, plan=key, key=item_key, definition=definition))
            changed += 1
            continue
        item: TrackedItem = batch.app.repository.get(aggregate_id)
        fields = set(item.filed) | set(definition)
        changes = {
            f: definition.get(f) for f in sorted(fields) if item.filed.get(f) != definition.get(f)
        }
        item.amend(ctx, coordinator=coordinator, changes=changes, reason=reason, document=document)
        changed += bool(item.pending_events)
        batch.add(item)
    kept = {aggregate_id for aggregate_id, _, _, _ in wanted}
    for old_id in _previous_items(batch.app, plan) - kept:
        item = batch.app.repository.get(old_id)
        item.cancel(ctx, coordinator=coordinator, reason=reason, document=document)
        changed += bool(item.pending_events)
        batch.add(item)
    return changed


def _previous_items(app: Ledger, plan: Plan) -> set[Any]:
    """Items the plan had before this import (its header is already amended in memory)."""
    before = app.plan(plan.key)
    return {task_id(plan.key, k) for k in before.tasks} | {
        indicator_id(plan.key, n) for n in before.indicators
    }
