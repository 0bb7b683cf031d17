"""Views as known at a time: the rows they showed when everything recorded up to
then was applied — the same pure code, replayed in memory over the log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from projections.engine.replay import share_replay
from projections.engine.rows import Row
from projections.engine.runner import BATCH, Dispatch, LogReader, ViewFactory
from projections.engine.source import EventSource


def rows_known_at(
    app: EventSource, views: Mapping[str, ViewFactory], known_at: datetime
) -> dict[str, dict[str, Row]]:
    """Each of ``views`` (by name) as it stood when everything recorded up to
    ``known_at`` was applied, in one pass over the log (aggregate views sharing a
    replay)."""
    made = {name: factory(app) for name, factory in views.items()}
    share_replay(made.values())
    dispatch = Dispatch(list(made.values()))
    for at, event in recorded_until(app, known_at):
        for apply in dispatch(type(event)):
            apply(at, event)
    return {
        name: {key: row for key, row in view.flush().items() if row is not None}
        for name, view in made.items()
    }


def recorded_until(app: EventSource, known_at: datetime) -> Iterator[tuple[int, Any]]:
    """The (position, event) pairs of the log, oldest first, up to the first event
    recorded after ``known_at``."""
    reader = LogReader(app)
    position = 0
    while events := reader.read(position, BATCH):
        for at, event in events:
            if event.timestamp > known_at:
                return
            yield at, event
        position = events[-1][0]
