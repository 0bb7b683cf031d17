"""Views as known at a time and as of a day: the rows they showed when everything
recorded up to then was applied (record time), leaving out the facts about days
after the day asked (valid time, :mod:`domain.validity`) — the same pure code,
replayed in memory over the log, in one pass."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from domain.validity import ValidDays
from projections.engine.replay import share_replay
from projections.engine.rows import Row
from projections.engine.runner import BATCH, Dispatch, LogReader, ViewFactory
from projections.engine.source import EventSource


def rows_known_at(
    app: EventSource,
    views: Mapping[str, ViewFactory],
    known_at: datetime | None = None,
    *,
    through: int | None = None,
    as_of: date | None = None,
) -> dict[str, dict[str, Row]]:
    """Each of ``views`` (by name) as it stood when everything recorded up to
    ``known_at`` (and at positions up to ``through``) was applied — of it, with
    ``as_of``, only the facts about that day or before — in one pass over the log
    (aggregate views sharing a replay)."""
    made = {name: factory(app) for name, factory in views.items()}
    replay = share_replay(made.values())
    dispatch = Dispatch(list(made.values()))
    valid = ValidDays()
    for at, event in recorded_until(app, known_at, through):
        if as_of is not None and valid.after(event, as_of):
            if replay is not None:
                replay.skip(event)
            continue
        for apply in dispatch(type(event)):
            apply(at, event)
    return {
        name: {key: row for key, row in view.flush().items() if row is not None}
        for name, view in made.items()
    }


def recorded_until(
    app: EventSource, known_at: datetime | None, through: int | None = None
) -> Iterator[tuple[int, Any]]:
    """The (position, event) pairs of the log, oldest first, up to the first event
    recorded after ``known_at`` or past position ``through`` (either may be None)."""
    reader = LogReader(app)
    position = 0
    while events := reader.read(position, BATCH):
        for at, event in events:
            if (known_at is not None and event.timestamp > known_at) or (
                through is not None and at > through
            ):
                return
            yield at, event
        position = events[-1][0]
