"""Aggregates replayed from their own events, for views built on the domain's state.

A runner that resumes mid-log meets aggregates it has not replayed yet: those are
loaded from the store at the version before the event met, then the event applies.
Applying an event the replay already holds changes nothing, so several views can
share one replay of the log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from projections.engine.rows import Row
from projections.engine.source import EventSource


class Replay:
    def __init__(self, app: EventSource) -> None:
        self.app = app
        self.aggregates: dict[UUID, Any] = {}

    def apply(self, event: Any) -> Any:
        """The aggregate after ``event``."""
        before = self.aggregates.get(event.originator_id)
        if before is not None and before.version >= event.originator_version:
            return before
        if before is None and event.originator_version > 1:
            before = self.app.repository.get(
                event.originator_id, version=event.originator_version - 1
            )
        after = event.mutate(before)
        self.aggregates[event.originator_id] = after
        return after

    def skip(self, event: Any) -> None:
        """Pass over ``event`` without applying it (a read as of a day leaves out the
        facts about later days): the aggregate's next event still applies."""
        before = self.aggregates.get(event.originator_id)
        if before is not None and before.version < event.originator_version:
            before.version = event.originator_version


class AggregateView:
    """A view whose rows are functions of replayed aggregates. The rows of the
    aggregates a batch touched are computed once, when the batch is flushed.

    It takes in only the events whose topic starts with one of its ``prefixes``
    (:meth:`takes`): a runner need not hand it any other."""

    name = ""
    prefixes: tuple[str, ...] = ()

    def __init__(self, app: EventSource, replay: Replay | None = None) -> None:
        self.app = app
        self.replay = replay or Replay(app)
        self.touched: dict[UUID, Any] = {}

    def takes(self, event_type: type[Any]) -> bool:
        """Whether events of ``event_type`` can change this view."""
        return bool(getattr(event_type, "TOPIC", "").startswith(self.prefixes))

    def apply(self, _position: int, event: Any, /) -> None:
        if self.takes(type(event)):
            aggregate = self.replay.apply(event)
            self.touched[aggregate.id] = aggregate

    def flush(self) -> dict[str, Row | None]:
        changes: dict[str, Row | None] = {}
        done: set[Any] = set()
        for aggregate in self.touched.values():
            group = self.group_of(aggregate)
            if group not in done:
                done.add(group)
                changes.update(self.rows_of(aggregate))
        self.touched.clear()
        return changes

    def group_of(self, aggregate: Any) -> Any:
        """Aggregates of one group have the same rows (``rows_of`` any one of them
        gives them all): a flush computes them once per group. Each aggregate is a
        group of its own unless a view says otherwise."""
        return aggregate.id

    def rows_of(self, aggregate: Any) -> dict[str, Row | None]:
        """The rows that depend on ``aggregate`` as it now stands."""
        raise NotImplementedError


def share_replay(views: Iterable[Any]) -> Replay | None:
    """Let the aggregate views among ``views`` share one replay (each aggregate is
    replayed once for all of them), and return it. Call it before any of them has
    applied an event."""
    aggregate_views = [view for view in views if isinstance(view, AggregateView)]
    if not aggregate_views:
        return None
    shared = Replay(aggregate_views[0].app)
    for view in aggregate_views:
        view.replay = shared
    return shared
