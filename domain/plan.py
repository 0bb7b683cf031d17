"""The plan header (kế hoạch): its identity, its items, and the dependencies
between its tasks.

Only the coordination office amends a plan or declares and withdraws
dependencies; a dependency may not create a cycle. The plan names its coordination
office and, optionally, its steering committee (Ban Chỉ đạo), which judges the items
the office itself takes part in.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import (
    DependencyCycleError,
    DuplicateDependencyError,
    InvalidValueError,
    NotFoundError,
    UnknownDependencyError,
    reject_unknown_fields,
)
from domain.facts import Fact
from domain.items import prune, require_coordinator, require_reason

PLAN_FIELDS = (
    "ward",
    "ward_id",
    "province",
    "number",
    "issuer",
    "issued_on",
    "year",
    "title",
    "coordinator",
    "steering_committee",
    "bases",
    "source",
    "reporting",
    "note",
    "budget",
    "end_year",
    "default_lead",
    "default_monitor",
)
REPORTING = ("monthly", "quarterly", "half_yearly", "yearly")


def find_path(edges: set[tuple[str, str]], start: str, goal: str) -> list[str] | None:
    """A path start → … → goal along ``edges`` (upstream, downstream), if any."""
    frontier = [[start]]
    seen = {start}
    while frontier:
        path = frontier.pop()
        if path[-1] == goal:
            return path
        for upstream, downstream in sorted(edges):
            if upstream == path[-1] and downstream not in seen:
                seen.add(downstream)
                frontier.append([*path, downstream])
    return None


class Plan(Aggregate):
    TOPIC = "lienthong.Plan"

    def __init__(self) -> None:
        self.key = ""
        self.header: dict[str, Any] = {}
        self.tasks: list[str] = []
        self.indicators: list[str] = []
        self.dependencies: set[tuple[str, str]] = set()

    @property
    def coordinator(self) -> str:
        return str(self.header.get("coordinator", ""))

    @property
    def steering_committee(self) -> str:
        """The steering committee (Ban Chỉ đạo), or the body the plan names in its place,
        that judges the items the coordination office takes part in; "" when none."""
        return str(self.header.get("steering_committee", ""))

    @property
    def start(self) -> dt.date:
        """When the plan's time-based schedule starts: its issue date, else 1 January."""
        issued_on = self.header.get("issued_on")
        return dt.date.fromisoformat(issued_on) if issued_on else dt.date(self.header["year"], 1, 1)

    class Created(Aggregate.Created):
        TOPIC = "lienthong.plan.Created"

    class Issued(Created, Fact):
        """The plan was issued (or first recorded) with its header and items."""

        TOPIC = "lienthong.plan.Issued"
        class_version = 1
        key: str
        header: dict[str, Any]
        tasks: list[str]
        indicators: list[str]

        def apply(self, plan: Plan) -> None:
            plan.key = self.key
            plan.header = dict(self.header)
            plan.tasks = list(self.tasks)
            plan.indicators = list(self.indicators)

    @classmethod
    def issue(
        cls,
        ctx: Context,
        *,
        id: UUID,  # noqa: A002
        key: str,
        header: dict[str, Any],
        tasks: list[str],
        indicators: list[str],
    ) -> Plan:
        """Issue a plan: only the coordination office its header names issues it."""
        check_header(header)
        require_coordinator(ctx, header["coordinator"])
        return cls._create(
            cls.Issued,
            id=id,
            key=key,
            header=header,
            tasks=tasks,
            indicators=indicators,
            **ctx.event_fields(),
        )

    def amend(
        self,
        ctx: Context,
        *,
        header: dict[str, Any],
        tasks: list[str],
        indicators: list[str],
        reason: str,
        document: str,
    ) -> bool:
        """Replace the header and the list of items, recording what changed (a dropped
        header field changes to None); False if nothing did."""
        require_coordinator(ctx, self.coordinator)
        check_header(header)
        fields = set(self.header) | set(header)
        changes = {k: header.get(k) for k in sorted(fields) if self.header.get(k) != header.get(k)}
        if not changes and tasks == self.tasks and indicators == self.indicators:
            return False
        self.trigger_event(
            self.Amended,
            changes=changes,
            tasks=tasks,
            indicators=indicators,
            reason=require_reason(reason),
            document=document,
            **ctx.event_fields(),
        )
        return True

    class Amended(Fact):
        TOPIC = "lienthong.plan.Amended"
        changes: dict[str, Any]
        tasks: list[str]
        indicators: list[str]
        reason: str
        document: str

        def apply(self, plan: Plan) -> None:
            plan.header = prune({**plan.header, **self.changes})
            plan.tasks = list(self.tasks)
            plan.indicators = list(self.indicators)

    # Dependencies ----------------------------------------------------------

    def _require_task(self, key: str, field: str) -> None:
        if key not in self.tasks:
            msg = f"plan {self.key} has no task {key!r}"
            raise NotFoundError(msg, field=field)

    def declare_dependency(
        self, ctx: Context, *, upstream: str, downstream: str, reason: str
    ) -> None:
        """``downstream`` cannot finish before ``upstream`` has."""
        require_coordinator(ctx, self.coordinator)
        self._require_task(upstream, "upstream")
        self._require_task(downstream, "downstream")
        if (upstream, downstream) in self.dependencies:
            msg = f"{downstream} already depends on {upstream}"
            raise DuplicateDependencyError(msg, field="upstream")
        back = (
            [upstream]
            if upstream == downstream
            else find_path(self.dependencies, downstream, upstream)
        )
        if back is not None:
            cycle = " → ".join([upstream, *back])
            msg = f"{downstream} depending on {upstream} would close a cycle: {cycle}"
            raise DependencyCycleError(msg, field="upstream")
        self.trigger_event(
            self.DependencyDeclared,
            upstream=upstream,
            downstream=downstream,
            reason=require_reason(reason),
            **ctx.event_fields(),
        )

    class DependencyDeclared(Fact):
        TOPIC = "lienthong.plan.DependencyDeclared"
        upstream: str
        downstream: str
        reason: str

        def apply(self, plan: Plan) -> None:
            plan.dependencies.add((self.upstream, self.downstream))

    def withdraw_dependency(
        self, ctx: Context, *, upstream: str, downstream: str, reason: str
    ) -> None:
        require_coordinator(ctx, self.coordinator)
        if (upstream, downstream) not in self.dependencies:
            msg = f"{downstream} does not depend on {upstream}"
            raise UnknownDependencyError(msg, field="upstream")
        self.trigger_event(
            self.DependencyWithdrawn,
            upstream=upstream,
            downstream=downstream,
            reason=require_reason(reason),
            **ctx.event_fields(),
        )

    class DependencyWithdrawn(Fact):
        TOPIC = "lienthong.plan.DependencyWithdrawn"
        upstream: str
        downstream: str
        reason: str

        def apply(self, plan: Plan) -> None:
            plan.dependencies.discard((self.upstream, self.downstream))


def check_header(header: dict[str, Any]) -> None:
    reject_unknown_fields(header, PLAN_FIELDS, "plan")
    if not header.get("coordinator"):
        raise InvalidValueError("a plan needs a coordination office", field="coordinator")
    if header.get("steering_committee") == header["coordinator"]:
        msg = "the steering committee judges the coordination office's items: not the office"
        raise InvalidValueError(msg, field="steering_committee")
    bad = [r for r in header.get("reporting", []) if r not in REPORTING]
    if bad:
        msg = f"reporting periods must be among {', '.join(REPORTING)}, not {', '.join(bad)}"
        raise InvalidValueError(msg, field="reporting")
