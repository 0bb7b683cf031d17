"""Aggregates replayed from their own events, for views built on the domain's state.

A runner that resumes mid-log meets aggregates it has not replayed yet: those are
loaded from the store at the version before the event met, then the event applies.
Applying an event the replay already holds changes nothing, so several views can
share one replay of the log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.runner import Row
from services.app import Lienthong


class Replay:
    def __init__(self, app: Lienthong) -> None:
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


class AggregateView:
    """A view whose rows are functions of replayed aggregates. The rows of the
    aggregates a batch touched are computed once, when the batch is flushed."""

    name = ""
    prefixes: tuple[str, ...] = ()

    def __init__(self, app: Lienthong, replay: Replay | None = None) -> None:
        self.app = app
        self.replay = replay or Replay(app)
        self.touched: dict[UUID, Any] = {}

    def apply(self, _position: int, event: Any, /) -> None:
        if getattr(type(event), "TOPIC", "").startswith(self.prefixes):
            aggregate = self.replay.apply(event)
            self.touched[aggregate.id] = aggregate

    def flush(self) -> dict[str, Row | None]:
        changes: dict[str, Row | None] = {}
        for aggregate in self.touched.values():
            changes.update(self.rows_of(aggregate))
        self.touched.clear()
        return changes

    def rows_of(self, aggregate: Any) -> dict[str, Row | None]:
        """The rows that depend on ``aggregate`` as it now stands."""
        raise NotImplementedError
