"""The projection runner: the log → a view, in batches, with tracking and a digest.

Each view lives in its own PostgreSQL schema (``view_<name>``) with two tables:
``rows`` (key, data as JSON) and ``tracking`` (the last log position applied). A batch
of events is applied in memory by the view's pure code, and the changed rows and the
new position are written in ONE transaction, so a view never holds half a batch. A
projection error propagates (the runner stops loudly); the next run resumes from the
last tracked position. ``digest()`` hashes the rows in key order, so a view rebuilt
from zero can be compared with the live one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, cast

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from services.app import Lienthong

BATCH = 5000
Row = dict[str, Any]
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


def canonical(data: Row) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


class ProjectionRunner:
    def __init__(self, app: Lienthong, view: View) -> None:
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
        position, applied = self.position(), 0
        last = self.app.recorder.max_notification_id() or 0
        while notifications := self.app.recorder.select_notifications(position + 1, batch):
            for notification in notifications:
                self.view.apply(notification.id, self.app.mapper.to_domain_event(notification))
            position = notifications[-1].id
            self.write(self.view.flush(), position)
            applied += len(notifications)
            progress(position, last)
        return applied

    def write(self, changes: dict[str, Row | None], position: int) -> None:
        """The changed rows and the new position, in one transaction."""
        upserts = [(key, Jsonb(data)) for key, data in changes.items() if data is not None]
        deletes = [key for key, data in changes.items() if data is None]
        with self.cursor() as cursor:
            if upserts:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {}.rows (key, data) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
                    ).format(self.schema),
                    upserts,
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
        self.create()
        with self.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT key, data FROM {}.rows ORDER BY key").format(self.schema)
            )
            return {row["key"]: row["data"] for row in cursor.fetchall()}

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


def notifications_of(app: Lienthong, batch: int = BATCH) -> Iterator[Any]:
    """The whole notification log, oldest first, read in batches."""
    position = 0
    while notifications := app.recorder.select_notifications(position + 1, batch):
        yield from notifications
        position = notifications[-1].id


def rows_as_known_at(app: Lienthong, view: View, known_at: datetime) -> dict[str, Row]:
    """The view's rows as they stood when everything recorded up to ``known_at`` was
    applied — the same pure code, replayed in memory."""
    for notification in notifications_of(app):
        event = app.mapper.to_domain_event(notification)
        if event.timestamp > known_at:  # type: ignore[attr-defined]
            break
        view.apply(notification.id, event)
    return {key: row for key, row in sorted(view.flush().items()) if row is not None}
