"""A view's table in PostgreSQL, and the one writer of view tables.

Each view lives in its own schema (``view_<name>``) with two tables: ``rows`` (key,
data as JSON) and ``tracking`` (the last log position applied). :func:`write_all`
writes the changed rows of several views — upserted through ``COPY`` into a
temporary table — and moves each view's tracking row, in ONE transaction. Tracking
moves by compare-and-set on the position the writer last saw: when another writer
moved it, :class:`TrackingMovedError` (naming the view) is raised and nothing of the
transaction is committed, for any view. ``digest()`` hashes the rows in key order, so
a view rebuilt from zero can be compared with the live one.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor, sql
from psycopg.rows import tuple_row
from psycopg.types.json import set_json_loads

from projections.engine.rows import Row, canonical, dumps, loads

Encoded = tuple[list[tuple[str, str]], list[str]]  # (key, JSON text) upserts; deleted keys


def encoded(changes: dict[str, Row | None]) -> Encoded:
    """Changed rows as JSON text, ready to write (done before the rows can change)."""
    upserts = [(key, dumps(data)) for key, data in changes.items() if data is not None]
    return upserts, [key for key, data in changes.items() if data is None]


@contextmanager
def no_collections() -> Iterator[None]:
    """No garbage collection while a pass runs or a view is read back: the replayed
    aggregates a rebuild keeps, and the rows a snapshot decodes, are long-lived, and
    collections scanning them as they grow cost a quarter of the pass and three
    quarters of a snapshot's decoding; collecting the young generations after each
    batch still cost ~6% (B2's store) and found nothing to free (neither makes cycles
    of its own: its garbage goes by reference counting)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class TrackingMovedError(Exception):
    """Another writer moved a view's tracked position."""

    def __init__(self, view: str, seen: int) -> None:
        super().__init__(
            f"view {view}: another writer moved its tracking (this writer last saw "
            f"position {seen}); nothing of the batch was written"
        )
        self.view = view
        self.seen = seen


class ViewTable:
    """One view's schema: its rows and its tracked position."""

    def __init__(self, datastore: PostgresDatastore, name: str) -> None:
        self.datastore = datastore
        self.name = name
        self.schema = sql.Identifier(f"view_{name}")
        self.incoming = sql.Identifier(f"incoming_{name}")
        self.created = False
        self.lock = threading.Lock()

    @contextmanager
    def cursor(self) -> Iterator[Cursor[Any]]:
        """A cursor in a transaction of its own, committed on success."""
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    def create(self) -> None:
        """The schema and tables, once per table object (threads share one)."""
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

    def rows(self) -> dict[str, Row]:
        """Every row, in key order: one statement outside a transaction, so decoding a
        large view client-side never trips the idle-in-transaction timeout."""
        self.create()
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql.SQL("SELECT key, data FROM {}.rows ORDER BY key").format(self.schema))
            return dict(cur.fetchall())

    def snapshot(self, with_rows: bool) -> tuple[int, dict[str, Row]]:
        """The position and (``with_rows``) the rows, read by one statement (one
        snapshot) outside a transaction, for the same reason as :meth:`rows`."""
        query = sql.SQL(
            "SELECT NULL AS key, NULL::jsonb AS data, position FROM {}.tracking WHERE id = 1"
        ).format(self.schema)
        if with_rows:
            query += sql.SQL(" UNION ALL SELECT key, data, NULL FROM {}.rows").format(self.schema)
        position, rows = 0, {}
        with (
            no_collections(),
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            set_json_loads(loads, cur)  # the rows by orjson (a server's start reads them all)
            cur.execute(query)
            for key, data, found in cur.fetchall():
                if key is None:
                    position = int(found)
                else:
                    rows[key] = data
        return position, rows

    def digest(self) -> str:
        """SHA-256 of the rows in key order (key, tab, canonical JSON, newline)."""
        digest = hashlib.sha256()
        for key, data in self.rows().items():
            digest.update(f"{key}\t{canonical(data)}\n".encode())
        return digest.hexdigest()

    def write(self, cursor: Cursor[Any], changes: Encoded, seen: int, position: int) -> None:
        """Encoded changes (upserted through ``COPY`` into a temporary table) and the
        tracking moved from ``seen`` to ``position``, in the transaction of ``cursor``;
        :class:`TrackingMovedError` when the tracking no longer stands at ``seen``."""
        upserts, deletes = changes
        if upserts:
            cursor.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS {} (key text, data jsonb) "
                    "ON COMMIT DELETE ROWS"
                ).format(self.incoming)
            )
            copy_in = sql.SQL("COPY {} (key, data) FROM STDIN").format(self.incoming)
            with cursor.copy(copy_in) as copy:
                for upsert in upserts:
                    copy.write_row(upsert)
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {}.rows (key, data) SELECT key, data FROM {} "
                    "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
                ).format(self.schema, self.incoming)
            )
        if deletes:
            cursor.execute(
                sql.SQL("DELETE FROM {}.rows WHERE key = ANY(%s)").format(self.schema),
                (deletes,),
            )
        if not self.move_tracking(cursor, seen, position):
            raise TrackingMovedError(self.name, seen)

    def move_tracking(self, cursor: Cursor[Any], seen: int, position: int) -> bool:
        """Compare-and-set of the position: False when it no longer stands at ``seen``
        (a view with no tracking row yet stands at 0)."""
        cursor.execute(
            sql.SQL("UPDATE {}.tracking SET position = %s WHERE id = 1 AND position = %s").format(
                self.schema
            ),
            (position, seen),
        )
        if cursor.rowcount == 1:
            return True
        if seen != 0:
            return False
        cursor.execute(
            sql.SQL(
                "INSERT INTO {}.tracking (id, position) VALUES (1, %s) ON CONFLICT (id) DO NOTHING"
            ).format(self.schema),
            (position,),
        )
        return cursor.rowcount == 1


def write_all(writes: Sequence[tuple[ViewTable, Encoded, int]], position: int) -> None:
    """Each (table, encoded changes, position it was seen at) behind ``position``
    written and moved to ``position``, all in ONE transaction: a failed write or
    compare-and-set commits nothing of it."""
    behind = [(table, changes, seen) for table, changes, seen in writes if seen < position]
    if not behind:
        return
    with behind[0][0].cursor() as cursor:
        for table, changes, seen in behind:
            table.write(cursor, changes, seen, position)
