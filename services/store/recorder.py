"""Reads and writes of the event store that the library has no public call for, in
one place: what a batch needs in one query, not one per aggregate.

Each takes the application's recorder; on PostgreSQL it runs its own SQL against the
library's tables (the same tables, columns and lock the library uses), anywhere
else it falls back to the library's per-aggregate calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql


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
