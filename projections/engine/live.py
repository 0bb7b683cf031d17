"""Every view kept current inside one process (the API server), with an in-memory
copy of its rows to answer queries from.

At start each view catches up as the runner does (rows and tracking written in one
transaction per batch); its rows and position are then read in one snapshot. A
thread then follows the log (LISTEN/NOTIFY, and at least every ``wait_seconds``):
each batch of new events is decoded once, applied to every view, and the changed
rows of all views and their new positions are written in ONE transaction. Each
tracking row is moved by compare-and-set on the position this process last saw, so
another writer (``lienthong projections follow``) is noticed: that view is read back
from its table and followed afresh from there, never moved backwards.

Only after the commit are the changes handed to the event loop (``publish``), which
updates the in-memory rows, wakes whoever waits for a position and tells the
subscribers (Watch streams): queries served on the loop always see rows as a whole
batch left them, in step with what was committed. Views too large for memory (the
audit trail) are kept in their tables only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import Cursor, sql
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from projections.engine.replay import share_replay
from projections.engine.rows import Changes, Row
from projections.engine.runner import (
    BATCH,
    LogReader,
    ProjectionRunner,
    ViewFactory,
    catch_up_all,
    notifications_of,
    takes,
)
from projections.engine.source import EventSource

log = logging.getLogger(__name__)
TABLE_ONLY = frozenset({"audit_trail"})
Subscriber = Callable[[Changes, int], None]
AUDIT_INDEXES = {
    "rows_subject": "((data->>'subject'), key)",
    "rows_plan": "((split_part(data->>'subject', '/', 1)), key)",
    "rows_actor": "((data->>'actor'), key)",
    "rows_recorded_at": "((data->>'recorded_at'))",
}


class TrackingMovedError(Exception):
    """Another writer moved a view's tracked position."""

    def __init__(self, view: str) -> None:
        super().__init__(f"view {view}: its tracking moved under us")
        self.view = view


@dataclass
class Table:
    """One view as this process follows it."""

    runner: ProjectionRunner
    position: int = 0
    rows: dict[str, Row] = field(default_factory=dict)
    in_memory: bool = True


def write_rows(cursor: Cursor[Any], schema: sql.Identifier, changes: dict[str, Row | None]) -> None:
    upserts = [(key, Jsonb(data)) for key, data in changes.items() if data is not None]
    deletes = [key for key, data in changes.items() if data is None]
    if upserts:
        cursor.executemany(
            sql.SQL(
                "INSERT INTO {}.rows (key, data) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
            ).format(schema),
            upserts,
        )
    if deletes:
        cursor.execute(
            sql.SQL("DELETE FROM {}.rows WHERE key = ANY(%s)").format(schema), (deletes,)
        )


def move_tracking(cursor: Cursor[Any], schema: sql.Identifier, old: int, new: int) -> bool:
    """Compare-and-set of a view's position: False when it is no longer ``old``."""
    cursor.execute(
        sql.SQL("UPDATE {}.tracking SET position = %s WHERE id = 1 AND position = %s").format(
            schema
        ),
        (new, old),
    )
    if cursor.rowcount == 1:
        return True
    if old != 0:
        return False
    cursor.execute(
        sql.SQL(
            "INSERT INTO {}.tracking (id, position) VALUES (1, %s) ON CONFLICT (id) DO NOTHING"
        ).format(schema),
        (new,),
    )
    return cursor.rowcount == 1


class LiveViews:
    def __init__(self, app: EventSource, views: Mapping[str, ViewFactory]) -> None:
        self.app = app
        self.factories = views
        self.tables = {
            name: Table(self.runner(name), in_memory=name not in TABLE_ONLY) for name in views
        }
        share_replay([table.runner.view for table in self.tables.values()])
        self.reader = LogReader(app)
        self.appliers: dict[type[Any], list[tuple[Callable[[int, Any], None], Table]]] = {}
        self.position = 0  # every view has committed at least this far
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.wait_seconds = 1.0

    def runner(self, name: str) -> ProjectionRunner:
        return ProjectionRunner(self.app, self.factories[name](self.app))

    def rows(self, view: str) -> dict[str, Row]:
        """The in-memory rows of a view (read them on the event loop)."""
        return self.tables[view].rows

    # Start ---------------------------------------------------------------------

    def catch_up(self) -> None:
        """Bring every view up to the log, then read its rows and position."""
        catch_up_all([table.runner for table in self.tables.values()])
        for name in self.tables:
            self.load(name)
        self.ensure_audit_indexes()
        self.position = min((t.position for t in self.tables.values()), default=0)

    def load(self, name: str) -> None:
        """A view's position and rows, before the loop serves them."""
        table = self.tables[name]
        table.position, table.rows = self.read(name)

    def read(self, name: str) -> tuple[int, dict[str, Row]]:
        """A view's position and (in-memory views) rows, read by one statement (one
        snapshot) outside a transaction: decoding a large view client-side must not
        hold a transaction open past the idle-in-transaction timeout."""
        table = self.tables[name]
        schema = table.runner.schema
        query = sql.SQL(
            "SELECT NULL AS key, NULL::jsonb AS data, position FROM {}.tracking WHERE id = 1"
        ).format(schema)
        if table.in_memory:
            query += sql.SQL(" UNION ALL SELECT key, data, NULL FROM {}.rows").format(schema)
        position, rows = 0, {}
        datastore = table.runner.datastore
        with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(query)
            for key, data, found in cursor.fetchall():
                if key is None:
                    position = int(found)
                else:
                    rows[key] = data
        return position, rows

    def ensure_audit_indexes(self) -> None:
        if "audit_trail" not in self.tables:
            return
        schema = self.tables["audit_trail"].runner.schema
        with self.tables["audit_trail"].runner.cursor() as cursor:
            for index, expression in AUDIT_INDEXES.items():
                cursor.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.rows " + expression).format(
                        sql.Identifier(index), schema
                    )
                )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow the log in a thread; changes are handed to ``loop``."""
        self.loop = loop
        self.thread = threading.Thread(target=self.follow, name="live-views", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    # Following -------------------------------------------------------------------

    def follow(self) -> None:
        recorder = cast("Any", self.app.recorder)
        pool_settings = cast("dict[str, Any]", recorder.datastore.pool.kwargs)
        settings = {k: v for k, v in pool_settings.items() if k != "row_factory"}
        with psycopg.connect(**settings, autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(recorder.channel_name)))
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("live views: applying the log failed; resuming from the tables")
                    self.reload(self.tables)
                for _ in listener.notifies(timeout=self.wait_seconds, stop_after=1):
                    pass

    def step(self, batch: int = BATCH) -> int:
        """Apply what the log holds beyond the views; returns how many events."""
        applied = 0
        start = min(t.position for t in self.tables.values())
        while events := self.reader.read(start, batch):
            for at, event in events:
                for apply, table in self.appliers_of(type(event)):
                    if at > table.position:
                        apply(at, event)
            last = events[-1][0]
            changes = {name: t.runner.view.flush() for name, t in self.tables.items()}
            try:
                self.commit(changes, last)
            except TrackingMovedError as moved:
                # nothing was written; every view read back and followed from there
                log.warning("%s; reading the views back", moved)
                self.reload(self.tables)
            else:
                applied += len(events)
            start = min(t.position for t in self.tables.values())
        return applied

    def appliers_of(self, event_type: type[Any]) -> list[tuple[Callable[[int, Any], None], Table]]:
        """The views that take events of ``event_type``, with their tables."""
        found = self.appliers.get(event_type)
        if found is None:
            found = self.appliers[event_type] = [
                (table.runner.view.apply, table)
                for table in self.tables.values()
                if takes(table.runner.view, event_type)
            ]
        return found

    def commit(self, changes: Changes, last: int) -> None:
        """Every view's changed rows and new position in one transaction; then the
        changes go to the loop."""
        moved: list[tuple[str, int]] = []
        with self.app.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            for name, table in self.tables.items():
                if table.position >= last:
                    continue
                write_rows(cursor, table.runner.schema, changes[name])
                if not move_tracking(cursor, table.runner.schema, table.position, last):
                    raise TrackingMovedError(name)
                moved.append((name, last))
        for name, position in moved:
            self.tables[name].position = position
        in_memory = {k: v for k, v in changes.items() if v and self.tables[k].in_memory}
        self.hand_over(in_memory, min(t.position for t in self.tables.values()))

    def reload(self, names: Iterable[str]) -> None:
        """Views read back from their tables and followed afresh from there."""
        reloaded: Changes = {}
        names = list(names)
        for name in names:
            table = self.tables[name]
            table.runner = self.runner(name)
            table.position, rows = self.read(name)
            if table.in_memory:
                gone: dict[str, Row | None] = {k: None for k in list(table.rows) if k not in rows}
                reloaded[name] = {**gone, **rows}
        if set(names) >= set(self.tables):  # all fresh: they may share one replay again
            share_replay([table.runner.view for table in self.tables.values()])
        self.appliers.clear()  # the views are new
        self.hand_over(reloaded, min(t.position for t in self.tables.values()))

    # On the event loop -----------------------------------------------------------

    def hand_over(self, changes: Changes, position: int) -> None:
        if self.loop is None:
            self.publish(changes, position)
        else:
            self.loop.call_soon_threadsafe(self.publish, changes, position)

    def publish(self, changes: Changes, position: int) -> None:
        """Apply committed changes to the in-memory rows and tell everyone (loop only)."""
        for name, rows in changes.items():
            table = self.tables[name]
            for key, row in rows.items():
                if row is None:
                    table.rows.pop(key, None)
                else:
                    table.rows[key] = row
        self.position = position
        for subscriber in list(self.subscribers):
            subscriber(changes, position)
        ready = [w for w in self.waiters if w[0] <= position]
        self.waiters = [w for w in self.waiters if w[0] > position]
        for _, future in ready:
            if not future.done():
                future.set_result(None)

    async def reached(self, position: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait (bounded) until every view has applied ``position``."""
        if self.position >= position:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append((position, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        return True

    async def settle(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Wait (bounded) until the views hold everything recorded so far: a writer
        reads its own writes."""
        last = await asyncio.to_thread(self.app.recorder.max_notification_id)
        return await self.reached(last or 0, timeout)


def rows_known_at(
    app: EventSource, views: Mapping[str, ViewFactory], known_at: datetime
) -> dict[str, dict[str, Row]]:
    """Several views as they stood when everything recorded up to ``known_at`` was
    applied, in one pass over the log (see :func:`projections.engine.runner.rows_as_known_at`)."""
    made = {name: factory(app) for name, factory in views.items()}
    for notification in notifications_of(app):
        event = app.mapper.to_domain_event(notification)
        if event.timestamp > known_at:  # type: ignore[attr-defined]
            break
        for view in made.values():
            view.apply(notification.id, event)
    return {
        name: {key: row for key, row in view.flush().items() if row is not None}
        for name, view in made.items()
    }
