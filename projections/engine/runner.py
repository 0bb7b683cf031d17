"""The projection runner: the log → views, in batches, with tracking and a digest.

A batch of events is applied in memory by each view's pure code; the changed rows
and the new position are written in ONE transaction by the one writer of view tables
(:func:`projections.engine.tables.write_all`), so a view never holds half a batch. A
projection error propagates (the runner stops loudly); the next run resumes from the
last tracked position. Tracking moves by compare-and-set on the position the runner
last saw: when another writer moved a view's tracking meanwhile, the batch is not
written and the runner stops loudly too
(:class:`~projections.engine.tables.TrackingMovedError`, naming the view), never
moving the view backwards.

Several views catch up (or rebuild) in ONE pass over the log with
:func:`catch_up_all` / :func:`rebuild_all`: each notification is read and decoded
once and applied to every view still behind it (:class:`Dispatch`, which the live
views use too); each batch's changed rows and positions of all the views are written
in one transaction (rows by ``COPY``), while the next batch is already being read and
applied. Every view keeps its own tracking position. A pass building views to be
read only once it ends (``defer_rows``: a rebuild, a server's first start) lets the
aggregate views write their rows less often (:data:`DEFER_TOUCHED`). Aggregate views passed through
:func:`projections.engine.replay.share_replay` replay each aggregate once for all of
them.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, cast

import orjson
from eventsourcing.persistence import JSONTranscoder, find_id_convertor
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg import sql
from psycopg.rows import tuple_row

from projections.engine.replay import AggregateView
from projections.engine.rows import Row
from projections.engine.source import EventSource
from projections.engine.tables import (
    TrackingMovedError,
    ViewTable,
    encoded,
    no_collections,
    write_all,
)

BATCH = 5000
# Events per batch when every view is rebuilt from zero: an aggregate a batch touches
# has its rows computed and encoded once per batch, so fewer, larger batches do less
# of that work (B2, 100,000 events: 15% less CPU than at 5,000, the same digests).
REBUILD_BATCH = 20_000
MAX_POSITION = 2**63 - 1
Progress = Callable[[int, int], None]


def quiet(_position: int, _last: int) -> None:
    """No progress shown."""


class View(Protocol):
    """A read model: pure code from events to rows."""

    name: str

    def apply(self, position: int, event: Any, /) -> None:
        """Take in the event at ``position``."""
        ...

    def flush(self) -> dict[str, Row | None]:
        """The rows changed since the last flush (None: the row is gone)."""
        ...


ViewFactory = Callable[[EventSource], View]


class Dispatch:
    """Which views take events of each type: a view with a ``takes(event_type)``
    method is handed only the events it takes; any other, every event."""

    def __init__(self, views: Sequence[View]) -> None:
        self.views = views
        self.table: dict[type[Any], list[Callable[[int, Any], None]]] = {}

    def __call__(self, event_type: type[Any]) -> list[Callable[[int, Any], None]]:
        found = self.table.get(event_type)
        if found is None:
            found = self.table[event_type] = [
                view.apply for view in self.views if takes(view, event_type)
            ]
        return found


def takes(view: View, event_type: type[Any]) -> bool:
    """Whether ``view`` takes events of ``event_type`` (a view without ``takes`` takes all)."""
    method = getattr(view, "takes", None)
    return method is None or bool(method(event_type))


def apply_events(
    events: Sequence[tuple[int, Any]], dispatch: Dispatch, positions: Sequence[int]
) -> None:
    """Event by event (views may share a replay), to each of the dispatch's views
    that takes it and has not applied it yet (``positions``: where each view stands)."""
    if all(since < events[0][0] for since in positions):
        table = dispatch.table
        for at, event in events:
            appliers = table.get(type(event)) or dispatch(type(event))
            for apply in appliers:
                apply(at, event)
        return
    behind = list(zip(dispatch.views, positions, strict=True))
    for at, event in events:
        for view, since in behind:
            if at > since and takes(view, type(event)):
                view.apply(at, event)


class Decoder:
    """Stored events → domain events, as the application's mapper makes them, with the
    per-topic look-ups done once (the same transcoder: the stored format is the
    mapper's). Falls back to the mapper when it encrypts or compresses."""

    def __init__(self, app: EventSource) -> None:
        self.mapper = app.mapper
        transcoder = self.mapper.transcoder
        self.plain = (
            self.mapper.cipher is None
            and self.mapper.compressor is None
            and isinstance(transcoder, JSONTranscoder)
        )
        self.decode_json = cast("JSONTranscoder", transcoder).decoder.decode
        # the transcoder's own revival of objects ({"_type_", "_data_"}) after orjson's
        # parse (~3x json's with a hook per object), unless it decodes objects its way
        self.names = cast("JSONTranscoder", transcoder).names
        self.fast = self.plain and (
            getattr(type(transcoder), "_decode_obj", None) is JSONTranscoder._decode_obj  # noqa: SLF001 - not overridden
        )
        self.classes: dict[str, tuple[type[Any], int, Callable[[Any], Any]]] = {}

    def kind(self, topic: str, originator_id: Any) -> tuple[type[Any], int, Callable[[Any], Any]]:
        found = self.classes.get(topic)
        if found is None:
            cls = resolve_topic(topic)
            convert = find_id_convertor(cls, cast("Hashable", type(originator_id)))
            found = self.classes[topic] = (cls, getattr(cls, "class_version", 1), convert)
        return found

    def __call__(self, originator_id: Any, version: int, topic: str, state: bytes) -> Any:
        if not self.plain:
            notification = _Stored(originator_id, version, topic, state)
            return self.mapper.to_domain_event(notification)  # type: ignore[arg-type]
        cls, class_version, convert = self.kind(topic, originator_id)
        event_state: dict[str, Any] = self.parse(state)
        event_state["originator_id"] = convert(originator_id)
        event_state["originator_version"] = version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

    def parse(self, state: bytes) -> Any:
        """The stored JSON as the transcoder decodes it (its ``_decode_obj`` on every
        object, innermost first); by the transcoder itself when orjson cannot read it
        (NaN), could read it differently (an integer past 64 bits becomes a float:
        any state with a float is left to the transcoder) or an object names no
        registered transcoding."""
        if self.fast:
            try:
                return revive(orjson.loads(state), self.names)
            except (orjson.JSONDecodeError, KeyError, InexactError):
                pass
        return self.decode_json(state.decode("utf8"))


class InexactError(Exception):
    """A parsed state holds a float: orjson may have read an integer as one."""


TRANSCODED = 2  # the keys of an object a transcoding wrote


def revive(value: Any, names: dict[str, Any]) -> Any:
    """Parsed JSON with the objects a transcoding wrote (``{"_type_": name, "_data_":
    data}``) decoded by it, innermost first, as ``JSONTranscoder._decode_obj`` would
    (``KeyError`` for a name not registered; :class:`InexactError` for a float)."""
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                value[key] = revive(item, names)
            elif kind is float:
                raise InexactError
        if len(value) == TRANSCODED and "_type_" in value and "_data_" in value:
            return names[value["_type_"]].decode(value["_data_"])
        return value
    for index, item in enumerate(value):
        kind = type(item)
        if kind is dict or kind is list:
            value[index] = revive(item, names)
        elif kind is float:
            raise InexactError
    return value


class _Stored:
    """What the mapper reads of a stored event."""

    __slots__ = ("originator_id", "originator_version", "state", "topic")

    def __init__(self, originator_id: Any, version: int, topic: str, state: bytes) -> None:
        self.originator_id = originator_id
        self.originator_version = version
        self.topic = topic
        self.state = state


def postgres_recorder(app: EventSource) -> PostgresApplicationRecorder:
    """The application's recorder: views live in PostgreSQL."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        msg = "views live in PostgreSQL: the application must use it"
        raise TypeError(msg)
    return recorder


class LogReader:
    """Reads the notification log in batches, each event decoded once."""

    def __init__(self, app: EventSource) -> None:
        recorder = postgres_recorder(app)
        self.datastore = recorder.datastore
        self.decode = Decoder(app)
        events = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{}"
        ).format(sql.Identifier(self.datastore.schema), sql.Identifier(recorder.events_table_name))
        # Without an upper bound unless one is asked for: on a log never analysed (a
        # first start after a bulk load) PostgreSQL guesses a bounded range small and
        # sorts everything after ``after`` for each batch (~4x the index scan it
        # chooses for the open range).
        self.open = events + sql.SQL(
            " WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        self.bounded = events + sql.SQL(
            " WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id LIMIT %s"
        )

    def read(self, after: int, limit: int, stop: int = MAX_POSITION) -> list[tuple[int, Any]]:
        """The (position, event) pairs after position ``after`` up to ``stop``, at
        most ``limit``."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            if stop == MAX_POSITION:
                cur.execute(self.open, (after, limit), prepare=True)
            else:
                cur.execute(self.bounded, (after, stop, limit), prepare=True)
            rows = cur.fetchall()
        decode = self.decode
        return [(row[0], decode(row[1], row[2], row[3], bytes(row[4]))) for row in rows]


class ProjectionRunner:
    """A view and its table: caught up, rebuilt, read and digested."""

    def __init__(self, app: EventSource, view: View) -> None:
        self.app = app
        self.view = view
        self.table = ViewTable(postgres_recorder(app).datastore, view.name)

    def position(self) -> int:
        return self.table.position()

    def rows(self) -> dict[str, Row]:
        return self.table.rows()

    def digest(self) -> str:
        return self.table.digest()

    def drop(self) -> None:
        self.table.drop()

    def catch_up(self, progress: Progress = quiet, batch: int = BATCH) -> int:
        """Apply every event after the tracked position; returns how many."""
        return catch_up_all([self], progress, batch)

    def rebuild(self, progress: Progress = quiet) -> int:
        """Drop the view and apply the whole log again (its rows deferred, as
        :func:`rebuild_all` does)."""
        self.drop()
        return catch_up_all([self], progress, defer_rows=True)


def catch_up_all(
    runners: Sequence[ProjectionRunner],
    progress: Progress = quiet,
    batch: int = BATCH,
    stop: int = MAX_POSITION,
    *,
    defer_rows: bool = False,
) -> int:
    """Bring every runner's view up to the log (or up to position ``stop``) in ONE
    pass; returns how many events were read. Each view gets only the events after
    its own tracked position; the next batch is read from the log, in a thread,
    while one is applied; each batch's rows and positions of every view are
    written in one transaction, in another thread, while the next batch is applied
    (at most one batch in flight, commits in log order). An error — a
    view's, a write's, or ``TrackingMovedError`` when another writer moved a view's
    tracking — propagates once the write in flight has ended: every view keeps
    the last batch it committed.

    With ``defer_rows`` (a view built from the log before it is read: a rebuild, a
    server's first start), an aggregate view writes its rows and position only
    when it has touched :data:`DEFER_TOUCHED` aggregates since its last write, and
    at the end of the pass: its rows are functions of its aggregates as they stand,
    so an aggregate touched in many batches has its rows computed and encoded once
    instead of once per batch (the same rows in the end)."""
    if not runners:
        return 0
    app = runners[0].app
    reader = LogReader(app)
    seen = [runner.position() for runner in runners]  # where each view's table stands
    positions = list(seen)  # where each view stands in the pass
    position = min(positions)
    last = min(app.recorder.max_notification_id() or 0, stop)
    read = 0
    dispatch = Dispatch([runner.view for runner in runners])
    tables = [runner.table for runner in runners]
    deferred = [defer_rows and isinstance(view, AggregateView) for view in dispatch.views]
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="view-writer") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-reader") as ahead,
        no_collections(),
    ):
        pending: Future[None] | None = None

        def write(due: list[bool], position: int) -> None:
            nonlocal pending
            writes = []
            for index, view in enumerate(dispatch.views):
                if due[index] and seen[index] < position:
                    writes.append((tables[index], encoded(view.flush()), seen[index]))
                    seen[index] = position
            if pending is not None:
                pending.result()
            pending = writer.submit(write_all, writes, position) if writes else None

        try:
            reading = ahead.submit(reader.read, position, batch, stop)
            while events := reading.result():
                position = events[-1][0]
                # the next batch is queried while this one is applied
                reading = ahead.submit(reader.read, position, batch, stop)
                apply_events(events, dispatch, positions)
                write(
                    [
                        not later or touched_many(view)
                        for view, later in zip(dispatch.views, deferred, strict=True)
                    ],
                    position,
                )
                positions = [max(since, position) for since in positions]
                read += len(events)
                progress(position, max(last, position))
            if any(deferred):
                write(deferred, position)
        finally:
            if pending is not None:
                pending.result()
    return read


# How many aggregates a deferring view may have touched before it writes their rows
# (bounds the rows computed and held at once).
DEFER_TOUCHED = 30_000


def touched_many(view: View) -> bool:
    return len(cast("AggregateView", view).touched) >= DEFER_TOUCHED


def rebuild_all(runners: Sequence[ProjectionRunner], progress: Progress = quiet) -> int:
    """Drop every runner's view and apply the whole log to all of them in one pass
    (:func:`catch_up_apart`: the aggregate views' rows deferred, the views that go
    apart in processes of their own)."""
    for runner in runners:
        runner.drop()
    return catch_up_apart(runners, progress, REBUILD_BATCH)


def catch_up_apart(
    runners: Sequence[ProjectionRunner], progress: Progress = quiet, batch: int = BATCH
) -> int:
    """:func:`catch_up_all` with ``defer_rows`` (views built before they are read: a
    rebuild, a server's first start), but a view that says it can be built ``apart``
    (the audit trail: a row per event, a quarter of a rebuild) is caught up in a
    process of its own meanwhile, when there are other views, two cores and an
    application its class can make again from its ``env``, and at least
    :data:`APART_EVENTS` events to apply (a process costs ~1 s to start): it reads the log itself
    and is the one writer of its table, as it would be in one pass. Its failure
    fails the pass loudly once the others are done (``TrackingMovedError`` as such)."""
    apart = [runner for runner in runners if goes_apart(runner)] if len(runners) > 1 else []
    if apart:
        last = runners[0].app.recorder.max_notification_id() or 0
        apart = [runner for runner in apart if last - runner.position() >= APART_EVENTS]
    together = [runner for runner in runners if runner not in apart]
    seen = [runner.position() for runner in apart]
    children = [start_apart(runner, batch) for runner in apart]
    try:
        read = catch_up_all(together, progress, batch, defer_rows=True)
    except BaseException:
        for child in children:
            child.terminate()
        raise
    finally:
        for child in children:
            child.wait()
    for runner, child, position in zip(apart, children, seen, strict=True):
        if child.returncode == MOVED:
            raise TrackingMovedError(runner.view.name, position)
        if child.returncode != 0:
            msg = f"view {runner.view.name}: its rebuild apart failed (exit {child.returncode})"
            raise RuntimeError(msg)
    return read


def start_apart(runner: ProjectionRunner, batch: int) -> subprocess.Popen[bytes]:
    """A Python process catching ``runner``'s view up (:func:`rebuild_apart`), told
    what to build on its standard input."""
    child = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-c", APART],
        stdin=subprocess.PIPE,
    )
    app = cast("Any", runner.app)
    task = (type(app), dict(app.env), type(runner.view), batch)
    assert child.stdin is not None  # noqa: S101 - stdin=PIPE
    child.stdin.write(pickle.dumps(task))
    child.stdin.close()
    return child


APART = (
    "import pickle, sys; from projections.engine.runner import rebuild_apart; "
    "rebuild_apart(*pickle.load(sys.stdin.buffer))"
)


def goes_apart(runner: ProjectionRunner) -> bool:
    """Whether ``runner``'s view is rebuilt in a process of its own (:func:`rebuild_all`)."""
    return (
        bool(getattr(runner.view, "apart", False))
        and isinstance(getattr(runner.app, "env", None), Mapping)
        and (os.cpu_count() or 1) > 1
    )


def rebuild_apart(
    app_class: type[Any], env: dict[str, str], view_class: type[Any], batch: int
) -> None:
    """In a process of its own: the view of ``view_class`` caught up from its tracked
    position (from zero, dropped, for a rebuild) on a new ``app_class(env=env)``; exit
    code :data:`MOVED` when another writer moved its tracking."""
    app = app_class(env=env)
    try:
        catch_up_all([ProjectionRunner(app, view_class(app))], batch=batch)
    except TrackingMovedError:
        sys.exit(MOVED)
    finally:
        app.close()


APART_EVENTS = 20_000  # fewer events to apply than that: no process apart
MOVED = 3  # the exit code of a view apart whose tracking another writer moved
