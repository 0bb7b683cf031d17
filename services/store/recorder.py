"""Reads and writes of the event store that the library has no public call for, in
one place: what a batch needs in one query, not one per aggregate.

Each takes the application's recorder; on PostgreSQL it runs its own SQL against the
library's tables (the same tables, columns and lock the library uses), anywhere
else it falls back to the library's per-aggregate calls.

:class:`Factory` is the persistence module of every application on PostgreSQL: its
recorders write through :func:`insert_events` (one writer path, no pipeline mode),
and every connection it opens carries a statement timeout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import (
    ApplicationRecorder,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import errors, sql

COPY_TYPES = ["uuid", "int8", "text", "bytea"]
# The environment key of the statement timeout (whole seconds; 0: none), beside the
# library's own POSTGRES_LOCK_TIMEOUT and POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT.
STATEMENT_TIMEOUT = "POSTGRES_STATEMENT_TIMEOUT"


class StoreBusyError(OperationalError):
    """A write waited for the events table's lock longer than the lock timeout (another
    transaction holds it); nothing was written, and the same write may be tried again.
    (A database error like any other to whoever handles those.)"""


class OffsetGapError(Exception):
    """A transaction's first offset on a partition does not follow the stored one: storing
    it would move the stored offset past records that are not stored."""

    def __init__(self, name: str, expected: int, first: int) -> None:
        super().__init__(
            f"{name}: the store expects offset {expected} next, the batch starts at {first};"
            " refused"
        )
        self.name = name
        self.expected = expected
        self.first = first


def check_follows(
    stored: Mapping[str, int], firsts: Mapping[str, int], log_starts: Mapping[str, int]
) -> None:
    """Raise :class:`OffsetGapError` unless each partition's first offset in ``firsts``
    follows its stored one (``stored + 1``; with nothing stored, its log start, 0 unless
    ``log_starts`` says otherwise)."""
    for name, first in firsts.items():
        last = stored.get(name)
        expected = log_starts.get(name, 0) if last is None else last + 1
        if first != expected:
            raise OffsetGapError(name, expected, first)


def events_table(recorder: PostgresApplicationRecorder) -> sql.Identifier:
    return sql.Identifier(*recorder.events_table_name.split("."))


def existing(recorder: ApplicationRecorder, aggregate_ids: Sequence[UUID]) -> set[UUID]:
    """Which of ``aggregate_ids`` have events in the store (one query)."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return {i for i in aggregate_ids if recorder.select_events(i, limit=1)}
    query = sql.SQL(
        "SELECT originator_id FROM {} WHERE originator_id = ANY(%s) AND originator_version = 1"
    ).format(events_table(recorder))
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(query, (list(aggregate_ids),))
        return {row["originator_id"] for row in cursor.fetchall()}


def position(recorder: ApplicationRecorder, aggregate_id: UUID, version: int) -> int:
    """The log position (notification id) of one stored event; 0 when unknown."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return 0  # the in-memory store keeps no positions by id
    query = sql.SQL(
        "SELECT notification_id FROM {} WHERE originator_id = %s AND originator_version = %s"
    ).format(events_table(recorder))
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(query, (aggregate_id, version))
        row = cursor.fetchone()
    return int(row["notification_id"]) if row else 0


def events_after(recorder: ProcessRecorder, versions: dict[UUID, int]) -> list[StoredEvent]:
    """The stored events of each aggregate in ``versions`` after the version given
    (0: all of them), by aggregate and version, in one query."""
    if not isinstance(recorder, PostgresProcessRecorder):
        return [e for i, v in versions.items() for e in recorder.select_events(i, gt=v or None)]
    query = sql.SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state"
        " FROM unnest(%s::uuid[], %s::int8[]) AS c(id, v)"
        " JOIN {} e ON e.originator_id = c.id AND e.originator_version > c.v"
        " ORDER BY e.originator_id, e.originator_version"
    ).format(sql.Identifier(*recorder.events_table_name.split(".")))
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(query, (list(versions), list(versions.values())))
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in cursor.fetchall()
        ]


def stored_offsets(recorder: ProcessRecorder, names: Sequence[str]) -> dict[str, int]:
    """The stored offset of each ``topic:partition`` in ``names`` that has one (one query)."""
    if not isinstance(recorder, PostgresProcessRecorder):
        found = {n: recorder.max_tracking_id(n) for n in names}
        return {n: o for n, o in found.items() if o is not None}
    with recorder.datastore.transaction(commit=False) as cursor:
        return _stored_offsets(cursor, _offsets_query(recorder), names)


def _stored_offsets(cursor: Any, query: sql.Composed, names: Sequence[str]) -> dict[str, int]:
    cursor.execute(query, (list(names),))
    return {row["application_name"]: int(row["n"]) for row in cursor.fetchall()}


def _offsets_query(recorder: PostgresProcessRecorder) -> sql.Composed:
    return sql.SQL(
        "SELECT application_name, max(notification_id) AS n FROM {}"
        " WHERE application_name = ANY(%s) GROUP BY application_name"
    ).format(sql.Identifier(*recorder.tracking_table_name.split(".")))


def insert_events(
    recorder: ApplicationRecorder,
    stored: Sequence[StoredEvent],
    trackings: Sequence[Tracking] = (),
    firsts: Mapping[str, int] | None = None,
    log_starts: Mapping[str, int] | None = None,
) -> list[int]:
    """Store ``stored`` and ``trackings`` in ONE transaction, as the library's
    ``insert_events(..., tracking=...)`` does; returns the events' notification ids
    (log positions), in order.

    With ``firsts`` (each tracking name → the first offset this transaction stores on
    it), the transaction first takes the table lock and checks, under it, that each
    first offset follows the stored one (:func:`check_follows`): anything else raises
    :class:`OffsetGapError` and stores nothing. Every writer of tracking rows here takes
    the lock first, so two workers cannot both pass the check for the same offsets.

    Same table lock as the library (so notification ids stay gap-free in commit
    order: every writer of the table takes it), same NOTIFY, same tracking statement;
    but the rows go in with a binary ``COPY`` (about 8× cheaper per row here than the
    library's ``INSERT … unnest`` of composites, whose values psycopg dumps in Python),
    and their ids are read back afterwards: under the lock, the rows above the
    table's previous maximum are this transaction's.

    And no pipeline mode: the library sends a transaction's statements as one
    pipeline, and psycopg 3.3's ``pipeline_communicate`` ignores the result of
    ``PQflush()`` after the last command: when the statements outgrow the socket's
    send buffer (a few hundred events), the rest stays in libpq's buffer while
    psycopg waits for results and the server waits for the rest of the statement
    (``ClientRead``) — forever.

    Raises :class:`StoreBusyError` when the lock is not had within the lock timeout.
    """
    if not isinstance(recorder, PostgresProcessRecorder):
        if len(trackings) > 1 or firsts:
            msg = "several trackings, or checked offsets, in one transaction need PostgreSQL"
            raise TypeError(msg)
        tracking = trackings[0] if trackings else None
        return list(recorder.insert_events(stored, tracking=tracking) or [])
    try:
        return _copy_events(recorder, stored, trackings, firsts, log_starts)
    except OperationalError as error:
        if isinstance(error.__cause__, errors.LockNotAvailable):
            msg = f"the events table stayed locked by another transaction: {error}"
            raise StoreBusyError(msg) from error
        raise


def _copy_events(
    recorder: PostgresProcessRecorder,
    stored: Sequence[StoredEvent],
    trackings: Sequence[Tracking],
    firsts: Mapping[str, int] | None,
    log_starts: Mapping[str, int] | None,
) -> list[int]:
    table = sql.Identifier(*recorder.events_table_name.split("."))
    with recorder.datastore.transaction(commit=True) as cursor:
        if firsts:
            recorder._lock_table(cursor)  # noqa: SLF001
            held = _stored_offsets(cursor, _offsets_query(recorder), list(firsts))
            check_follows(held, firsts, log_starts or {})
        for tracking in trackings:
            recorder._insert_tracking(cursor, tracking)  # noqa: SLF001
        if not stored:
            return []
        if not firsts:
            recorder._lock_table(cursor)  # noqa: SLF001
        recorder._notify_channel(cursor)  # noqa: SLF001
        cursor.execute(
            sql.SQL("SELECT COALESCE(max(notification_id), 0) AS n FROM {}").format(table)
        )
        row = cursor.fetchone()
        before = int(row["n"]) if row else 0
        copy = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        with cursor.copy(copy) as rows:
            rows.set_types(COPY_TYPES)
            for event in stored:
                rows.write_row(
                    (event.originator_id, event.originator_version, event.topic, event.state)
                )
        cursor.execute(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version FROM {}"
                " WHERE notification_id > %s"
            ).format(table),
            (before,),
        )
        ids = {
            (r["originator_id"], r["originator_version"]): r["notification_id"]
            for r in cursor.fetchall()
        }
    return [ids[(UUID(str(e.originator_id)), e.originator_version)] for e in stored]


class OneWriterRecorder(PostgresProcessRecorder):
    """The library's process recorder, its writes (``Application.save`` included)
    through :func:`insert_events`: the library's own insert runs in pipeline mode,
    which hangs on a large transaction (see there)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        return insert_events(self, stored_events, [tracking] if tracking else [])


class Factory(PostgresFactory):
    """The library's PostgreSQL persistence, with :class:`OneWriterRecorder`, and on
    every connection a ``statement_timeout`` (:data:`STATEMENT_TIMEOUT`) and the
    ``lock_timeout`` the library sets only when it locks the events table."""

    process_recorder_class = OneWriterRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        statement = int(self.env.get(STATEMENT_TIMEOUT) or "0")
        settings = connection_settings(self.datastore)
        settings["options"] = (
            f"-c statement_timeout={statement}s -c lock_timeout={self.datastore.lock_timeout}s"
        )
        # Names this pool's sessions, so that interrupt() finds them.
        settings["application_name"] = f"lienthong-{os.getpid()}-{uuid4().hex[:8]}"


def connection_settings(datastore: PostgresDatastore) -> dict[str, Any]:
    """The settings the library's pool opens each connection with."""
    settings = datastore.pool.kwargs
    if not isinstance(settings, dict):
        msg = "the library's connection pool takes its connection settings as a dict"
        raise TypeError(msg)
    return settings


def interrupt(recorder: ApplicationRecorder) -> None:
    """Stop waiting for the database, now (a server whose grace period is over): close
    the pool — no call gets a connection any more — and cancel the statements its
    sessions are still running (a write waiting for a lock, say), which then fail."""
    if not isinstance(recorder, PostgresApplicationRecorder):
        return
    datastore = recorder.datastore
    datastore.close()
    settings = connection_settings(datastore)
    conninfo = {k: settings[k] for k in ("dbname", "host", "port", "user", "password")}
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (settings["application_name"],),
        )
