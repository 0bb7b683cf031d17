"""The projection runner: the log → a view, in batches, with tracking and a digest.

Each view lives in its own PostgreSQL schema (``view_<name>``) with two tables:
``rows`` (key, data as JSON) and ``tracking`` (the last log position applied). A batch
of events is applied in memory by the view's pure code, and the changed rows and the
new position are written in ONE transaction, so a view never holds half a batch. A
projection error propagates (the runner stops loudly); the next run resumes from the
last tracked position. ``digest()`` hashes the rows in key order, so a view rebuilt
from zero can be compared with the live one.

Several views catch up (or rebuild) in ONE pass over the log with
:func:`catch_up_all` / :func:`rebuild_all`: each notification is read and decoded
once and applied to every view still behind it; each batch's changed rows and
positions of all the views are written in one transaction (rows by ``COPY``), while
the next batch is already being read and applied. Every view keeps its own tracking
position. Aggregate views passed through :func:`projections.engine.replay.share_replay`
replay each aggregate once for all of them.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, cast

import psycopg
from eventsourcing.persistence import JSONTranscoder, find_id_convertor
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg import Cursor, sql
from psycopg.rows import tuple_row

from projections.engine.rows import Row, canonical, dumps
from projections.engine.source import EventSource

BATCH = 5000
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


Prepared = tuple[list[tuple[str, str]], list[str]]  # (key, JSON text) upserts; deleted keys


def prepare(changes: dict[str, Row | None]) -> Prepared:
    """Changed rows as JSON text, ready to write (done before the rows can change)."""
    upserts = [(key, dumps(data)) for key, data in changes.items() if data is not None]
    return upserts, [key for key, data in changes.items() if data is None]


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
        event_state: dict[str, Any] = self.decode_json(state.decode("utf8"))
        event_state["originator_id"] = convert(originator_id)
        event_state["originator_version"] = version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event


class _Stored:
    """What the mapper reads of a stored event."""

    __slots__ = ("originator_id", "originator_version", "state", "topic")

    def __init__(self, originator_id: Any, version: int, topic: str, state: bytes) -> None:
        self.originator_id = originator_id
        self.originator_version = version
        self.topic = topic
        self.state = state


class LogReader:
    """Reads the notification log in batches, each event decoded once."""

    def __init__(self, app: EventSource) -> None:
        recorder = app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            msg = "views live in PostgreSQL: the application must use it"
            raise TypeError(msg)
        self.datastore = recorder.datastore
        self.decode = Decoder(app)
        self.statement = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(self.datastore.schema), sql.Identifier(recorder.events_table_name))

    def read(self, after: int, limit: int, stop: int = MAX_POSITION) -> list[tuple[int, Any]]:
        """The (position, event) pairs after position ``after`` up to ``stop``, at
        most ``limit``."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(self.statement, (after, stop, limit), prepare=True)
            rows = cur.fetchall()
        decode = self.decode
        return [(row[0], decode(row[1], row[2], row[3], bytes(row[4]))) for row in rows]


class ProjectionRunner:
    def __init__(self, app: EventSource, view: View) -> None:
        recorder = app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            msg = "views live in PostgreSQL: the application must use it"
            raise TypeError(msg)
        self.app = app
        self.datastore = recorder.datastore
        self.channel = recorder.channel_name
        self.view = view
        self.schema = sql.Identifier(f"view_{view.name}")
        self.created = False
        self.lock = threading.Lock()

    @contextmanager
    def cursor(self) -> Iterator[Cursor[Any]]:
        """A cursor in a transaction of its own, committed on success."""
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    def create(self) -> None:
        """The view's schema and tables, once per runner (threads share a runner)."""
        with self.lock:
            if not self.created:
                self._create()
                self.created = True

    def _create(self) -> None:
        tables = (
            "CREATE TABLE IF NOT EXISTS {}.rows (key text PRIMARY KEY, data jsonb NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {}.tracking (id int PRIMARY KEY, position bigint NOT NULL)",
        )
        with self.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
            for statement in tables:
                cursor.execute(sql.SQL(statement).format(self.schema))

    def drop(self) -> None:
        self.created = False
        with self.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(self.schema))

    def position(self) -> int:
        self.create()
        with self.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT position FROM {}.tracking WHERE id = 1").format(self.schema)
            )
            row = cursor.fetchone()
        return int(row["position"]) if row else 0

    def catch_up(self, progress: Progress = quiet, batch: int = BATCH) -> int:
        """Apply every event after the tracked position; returns how many."""
        return catch_up_all([self], progress, batch)

    def write(self, changes: dict[str, Row | None], position: int) -> None:
        """The changed rows and the new position, in one transaction."""
        with self.cursor() as cursor:
            self.write_in(cursor, prepare(changes), position)

    def write_in(self, cursor: Cursor[Any], changes: Prepared, position: int) -> None:
        """Prepared changes (upserted through ``COPY`` into a temporary table) and the
        new position, in the transaction of ``cursor``."""
        upserts, deletes = changes
        if upserts:
            incoming = sql.Identifier(f"incoming_{self.view.name}")
            cursor.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS {} (key text, data jsonb) "
                    "ON COMMIT DELETE ROWS"
                ).format(incoming)
            )
            with cursor.copy(sql.SQL("COPY {} (key, data) FROM STDIN").format(incoming)) as copy:
                for upsert in upserts:
                    copy.write_row(upsert)
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {}.rows (key, data) SELECT key, data FROM {} "
                    "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
                ).format(self.schema, incoming)
            )
        if deletes:
            cursor.execute(
                sql.SQL("DELETE FROM {}.rows WHERE key = ANY(%s)").format(self.schema),
                (deletes,),
            )
        cursor.execute(
            sql.SQL(
                "INSERT INTO {}.tracking (id, position) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position"
            ).format(self.schema),
            (position,),
        )

    def rows(self) -> dict[str, Row]:
        """Every row, in key order: one statement outside a transaction, so decoding a
        large view client-side never trips the idle-in-transaction timeout."""
        self.create()
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql.SQL("SELECT key, data FROM {}.rows ORDER BY key").format(self.schema))
            return dict(cur.fetchall())

    def digest(self) -> str:
        """SHA-256 of the rows in key order (key, tab, canonical JSON, newline)."""
        digest = hashlib.sha256()
        for key, data in self.rows().items():
            digest.update(f"{key}\t{canonical(data)}\n".encode())
        return digest.hexdigest()

    def follow(self, should_stop: Callable[[], bool], wait_seconds: float = 1.0) -> None:
        """Catch up, then apply new events as they are recorded (LISTEN/NOTIFY on the
        store's channel; a catch-up at least every ``wait_seconds``) until ``should_stop()``."""
        channel = sql.Identifier(self.channel)
        pool_settings = cast("dict[str, Any]", self.datastore.pool.kwargs)
        settings = {k: v for k, v in pool_settings.items() if k != "row_factory"}
        with psycopg.connect(**settings, autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(channel))
            while not should_stop():
                self.catch_up()
                for _ in listener.notifies(timeout=wait_seconds, stop_after=1):
                    pass

    def rebuild(self, progress: Progress = quiet) -> int:
        """Drop the view and apply the whole log again."""
        self.drop()
        return self.catch_up(progress)


def catch_up_all(
    runners: Sequence[ProjectionRunner],
    progress: Progress = quiet,
    batch: int = BATCH,
    stop: int = MAX_POSITION,
) -> int:
    """Bring every runner's view up to the log (or up to position ``stop``) in ONE
    pass; returns how many events were read. Each view gets only the events after
    its own tracked position; each batch's rows and positions of every view are
    written in one transaction, in a thread, while the next batch is read and
    applied (at most one batch in flight, commits in log order). An error — a
    view's or a write's — propagates once the write in flight has ended: every view
    keeps the last batch it committed."""
    if not runners:
        return 0
    app = runners[0].app
    reader = LogReader(app)
    positions = [runner.position() for runner in runners]
    position = min(positions)
    last = min(app.recorder.max_notification_id() or 0, stop)
    read = 0
    dispatch = Dispatch([runner.view for runner in runners])
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="view-writer") as writer,
        young_collections_only(),
    ):
        pending: Future[None] | None = None
        try:
            while events := reader.read(position, batch, stop):
                _apply(events, runners, positions, dispatch)
                position = events[-1][0]
                changes = [(runner, prepare(runner.view.flush())) for runner in runners]
                if pending is not None:
                    pending.result()
                pending = writer.submit(_write_all, runners[0], changes, positions, position)
                positions = [max(since, position) for since in positions]
                read += len(events)
                gc.collect(1)
                progress(position, max(last, position))
        finally:
            if pending is not None:
                pending.result()
    return read


@contextmanager
def young_collections_only() -> Iterator[None]:
    """No automatic garbage collection while a pass runs (each batch collects the
    young generations): the replayed aggregates a rebuild keeps are long-lived, and
    full collections scanning them again and again cost a quarter of the pass."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _apply(
    events: list[tuple[int, Any]],
    runners: Sequence[ProjectionRunner],
    positions: list[int],
    dispatch: Dispatch,
) -> None:
    """Event by event (views may share a replay), to each view that takes it and has
    not applied it yet."""
    if all(since < events[0][0] for since in positions):
        table = dispatch.table
        for at, event in events:
            appliers = table.get(type(event)) or dispatch(type(event))
            for apply in appliers:
                apply(at, event)
        return
    behind = [(runner.view, since) for runner, since in zip(runners, positions, strict=True)]
    for at, event in events:
        for view, since in behind:
            if at > since and takes(view, type(event)):
                view.apply(at, event)


def _write_all(
    first: ProjectionRunner,
    changes: list[tuple[ProjectionRunner, Prepared]],
    positions: list[int],
    position: int,
) -> None:
    """Every view's changed rows and new position, in one transaction."""
    with first.cursor() as cursor:
        for (runner, rows), since in zip(changes, positions, strict=True):
            if position > since:
                runner.write_in(cursor, rows, position)


def rebuild_all(runners: Sequence[ProjectionRunner], progress: Progress = quiet) -> int:
    """Drop every runner's view and apply the whole log to all of them in one pass."""
    for runner in runners:
        runner.drop()
    return catch_up_all(runners, progress)


def notifications_of(app: EventSource, batch: int = BATCH) -> Iterator[Any]:
    """The whole notification log, oldest first, read in batches."""
    position = 0
    while notifications := app.recorder.select_notifications(position + 1, batch):
        yield from notifications
        position = notifications[-1].id


def rows_as_known_at(app: EventSource, view: View, known_at: datetime) -> dict[str, Row]:
    """The view's rows as they stood when everything recorded up to ``known_at`` was
    applied — the same pure code, replayed in memory."""
    for notification in notifications_of(app):
        event = app.mapper.to_domain_event(notification)
        if event.timestamp > known_at:  # type: ignore[attr-defined]
            break
        view.apply(notification.id, event)
    return {key: row for key, row in sorted(view.flush().items()) if row is not None}
