"""The Merkle tree over the whole log (RFC 6962 hashing, :mod:`domain.merkle`), kept in
PostgreSQL beside the library's events table.

One leaf per stored record (events and receipts alike), in ``notification_id`` order;
the leaf is :func:`leaf_bytes` of the row as stored. Tables (created on first use):

- ``tlog_nodes (level, idx, hash)`` — every complete subtree, so a proof reads
  O(log n) rows, in one query;
- ``tlog_leaves (leaf_index, position)`` — which log position each leaf is;
- ``tlog_head`` — one row: the tree's size and the position of its last leaf;
- ``tlog_checkpoints`` — every signed checkpoint made, with when;
- ``tlog_cosignatures`` — the witnesses' signature lines over kept checkpoints
  (:mod:`services.app.witness` checks them before they are kept).

:meth:`LogTree.update` is the follower: it reads the rows after the head's position and
appends them, a batch per transaction (the head row locked, so two followers take turns);
:meth:`LogTree.lag` is how many stored records it has not appended yet.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from domain.merkle import (
    CompactRange,
    Nodes,
    ProofError,
    consistency_proof,
    frontier,
    inclusion_proof,
    needed_nodes,
    root,
)
from services.store.recorder import events_table

BATCH = 5000
# a stored record as the tree hashes it (row_leaf): the columns, from the events table
LEAF_SELECT = (
    "SELECT notification_id, originator_id, originator_version, topic, state FROM {events}"
)
TABLES = (
    (
        "CREATE TABLE IF NOT EXISTS {nodes} (level int2 NOT NULL, idx int8 NOT NULL,"
        " hash bytea NOT NULL, PRIMARY KEY (level, idx))"
    ),
    (
        "CREATE TABLE IF NOT EXISTS {leaves} (leaf_index int8 PRIMARY KEY,"
        " position int8 NOT NULL UNIQUE)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS {head} (id int2 PRIMARY KEY CHECK (id = 1),"
        " size int8 NOT NULL, position int8 NOT NULL)"
    ),
    "INSERT INTO {head} VALUES (1, 0, 0) ON CONFLICT DO NOTHING",
    (
        "CREATE TABLE IF NOT EXISTS {checkpoints} (id bigserial PRIMARY KEY, size int8 NOT NULL,"
        " root bytea NOT NULL, note text NOT NULL, made_at timestamptz NOT NULL DEFAULT now())"
    ),
    (
        "CREATE TABLE IF NOT EXISTS {cosignatures} (checkpoint int8 NOT NULL REFERENCES"
        " {checkpoints}, key_name text NOT NULL, key_hash int8 NOT NULL, line text NOT NULL,"
        " added_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (checkpoint, key_name, key_hash))"
    ),
)

# The follower's leaf hashes, computed by PostgreSQL from the rows (the state never leaves
# the server): SHA-256 of 0x00 and leaf_bytes() below, spelled in SQL. `audit verify`
# recomputes every leaf with leaf_bytes() in Python, so each checks the other.
LEAF_HASHES = (
    "SELECT notification_id, sha256('\\x00'::bytea || int8send(notification_id)"
    " || uuid_send(originator_id) || int8send(originator_version::int8)"
    " || int4send(octet_length(convert_to(topic, 'UTF8'))) || convert_to(topic, 'UTF8')"
    " || int4send(octet_length(state)) || state) AS hash"
    " FROM {events} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
)


def leaf_bytes(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The canonical bytes of one stored record: its position (8 bytes, big-endian), the
    originator id (16 bytes), the originator version (8 bytes), then the topic (UTF-8)
    and the state (as stored), each after its length (4 bytes)."""
    name = topic.encode()
    return b"".join(
        (
            struct.pack(">Q", position),
            originator_id.bytes,
            struct.pack(">QI", version, len(name)),
            name,
            struct.pack(">I", len(state)),
            state,
        )
    )


def row_leaf(row: dict[str, Any]) -> bytes:
    """:func:`leaf_bytes` of a row of the events table."""
    return leaf_bytes(
        int(row["notification_id"]),
        row["originator_id"],
        int(row["originator_version"]),
        row["topic"],
        bytes(row["state"]),
    )


def one(cursor: Any) -> dict[str, Any]:
    """The one row a query answers (a missing one is a damaged table: loud)."""
    row: dict[str, Any] | None = cursor.fetchone()
    if row is None:
        msg = "a query of the log tree answered no row: its tables are damaged"
        raise ProofError(msg)
    return row


@dataclass(frozen=True)
class Leaf:
    """What the tree recorded for one leaf."""

    index: int
    position: int
    hash: bytes


@dataclass(frozen=True)
class Kept:
    """A checkpoint as kept: its signed note, what it signs, when it was made, and its
    number (ascending in the order they were kept)."""

    note: str
    size: int
    root: bytes
    made_at: dt.datetime
    id: int


@dataclass(frozen=True)
class Cosignature:
    """A witness's signature line over a kept checkpoint (checked before it was kept)."""

    key_name: str
    key_hash: int
    line: str


@dataclass(frozen=True)
class Head:
    size: int
    position: int  # of the last leaf (0: none)


class LogTree:
    """The tree of one application's log."""

    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        self.datastore = recorder.datastore
        self.events = events_table(recorder)

        def table(name: str) -> sql.Identifier:
            return sql.Identifier(self.datastore.schema, name)

        self.names = {
            "nodes": table("tlog_nodes"),
            "leaves": table("tlog_leaves"),
            "head": table("tlog_head"),
            "checkpoints": table("tlog_checkpoints"),
            "cosignatures": table("tlog_cosignatures"),
        }
        with self.datastore.transaction(commit=True) as cursor:
            # Processes starting together (full mode's API and checkpointer) take turns:
            # concurrent CREATE TABLE IF NOT EXISTS may fail on PostgreSQL's catalog.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('lienthong.tlog'))")
            for statement in TABLES:
                cursor.execute(self.sql(statement))

    def sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(events=self.events, **self.names)

    def head(self) -> Head:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.sql("SELECT size, position FROM {head}"))
            row = one(cursor)
        return Head(int(row["size"]), int(row["position"]))

    def update(self, progress: Callable[[int], None] | None = None) -> int:
        """Append every stored record after the head (a batch per transaction); returns
        how many were appended."""
        appended = 0
        while count := self._append_batch():
            appended += count
            if progress:
                progress(appended)
        return appended

    def _append_batch(self) -> int:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self.sql("SELECT size, position FROM {head} FOR UPDATE"))
            head = one(cursor)
            size = int(head["size"])
            cursor.execute(self.sql(LEAF_HASHES), (head["position"], BATCH))
            rows = cursor.fetchall()
            if not rows:
                return 0
            tree = CompactRange(size, self._nodes(cursor, frontier(size)))
            nodes: list[str] = []
            leaves: list[str] = []
            for row in rows:
                leaves.append(f"{tree.size}\t{row['notification_id']}\n")
                nodes.extend(
                    f"{level}\t{index}\t\\\\x{digest.hex()}\n"
                    for level, index, digest in tree.append(bytes(row["hash"]))
                )
            # COPY, not executemany: no pipeline mode (see services.store.recorder.insert_events)
            with cursor.copy(self.sql("COPY {nodes} (level, idx, hash) FROM STDIN")) as copy:
                copy.write("".join(nodes))
            with cursor.copy(self.sql("COPY {leaves} (leaf_index, position) FROM STDIN")) as copy:
                copy.write("".join(leaves))
            cursor.execute(
                self.sql("UPDATE {head} SET size = %s, position = %s"),
                (tree.size, rows[-1]["notification_id"]),
            )
            return len(rows)

    def lag(self) -> int:
        """How many stored records the tree has not appended yet."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self.sql(
                    "SELECT count(*) AS n FROM {events}"
                    " WHERE notification_id > (SELECT position FROM {head})"
                )
            )
            row = one(cursor)
        return int(row["n"])

    def _nodes(self, cursor: Any, keys: list[tuple[int, int]]) -> list[bytes]:
        """The stored hashes of ``keys``, in their order (one query)."""
        if not keys:
            return []
        cursor.execute(
            self.sql(
                "SELECT k.level, k.idx, n.hash FROM unnest(%s::int2[], %s::int8[]) AS k(level, idx)"
                " LEFT JOIN {nodes} n USING (level, idx)"
            ),
            ([level for level, _ in keys], [index for _, index in keys]),
        )
        found = {(r["level"], r["idx"]): r["hash"] for r in cursor.fetchall()}
        missing = [key for key in keys if found.get(key) is None]
        if missing:
            msg = f"the tree has no stored node {missing[0]}: its tables are damaged"
            raise ProofError(msg)
        return [bytes(found[key]) for key in keys]

    def _prove(self, prove: Callable[[Nodes], Any]) -> Any:
        """Run ``prove`` on the stored nodes it needs, fetched in one query."""
        keys = sorted(needed_nodes(prove))
        with self.datastore.transaction(commit=False) as cursor:
            hashes = dict(zip(keys, self._nodes(cursor, keys), strict=True))
        return prove(lambda level, index: hashes[level, index])

    def _within(self, *sizes: int) -> None:
        size = self.head().size
        for asked in sizes:
            if not 0 <= asked <= size:
                msg = f"the tree has {size} leaves, not {asked}"
                raise ProofError(msg)

    def root(self, size: int) -> bytes:
        self._within(size)
        digest: bytes = self._prove(lambda nodes: root(nodes, size))
        return digest

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._within(size)
        proof: list[bytes] = self._prove(lambda nodes: inclusion_proof(nodes, index, size))
        return proof

    def consistency(self, old: int, new: int) -> list[bytes]:
        self._within(old, new)
        proof: list[bytes] = self._prove(lambda nodes: consistency_proof(nodes, old, new))
        return proof

    def leaf_at(self, position: int) -> Leaf:
        """The leaf of the record at ``position``."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self.sql(
                    "SELECT l.leaf_index, n.hash FROM {leaves} l JOIN {nodes} n"
                    " ON n.level = 0 AND n.idx = l.leaf_index WHERE l.position = %s"
                ),
                (position,),
            )
            row = cursor.fetchone()
        if row is None:
            msg = f"position {position} is not in the tree"
            raise ProofError(msg)
        return Leaf(int(row["leaf_index"]), position, bytes(row["hash"]))

    def leaves(self, size: int) -> Iterator[Leaf]:
        """The tree's first ``size`` leaves as it recorded them, in order."""
        after = -1
        while after + 1 < size:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    self.sql(
                        "SELECT l.leaf_index, l.position, n.hash FROM {leaves} l JOIN {nodes} n"
                        " ON n.level = 0 AND n.idx = l.leaf_index"
                        " WHERE l.leaf_index > %s AND l.leaf_index < %s"
                        " ORDER BY l.leaf_index LIMIT %s"
                    ),
                    (after, size, BATCH),
                )
                rows = cursor.fetchall()
            if not rows:
                return
            for row in rows:
                yield Leaf(int(row["leaf_index"]), int(row["position"]), bytes(row["hash"]))
            after = int(rows[-1]["leaf_index"])

    def records(self) -> Iterator[tuple[int, bytes]]:
        """Every stored record as ``(position, leaf bytes)``, in log order, read from the
        events table itself (never from the tree)."""
        after = -1
        while True:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    self.sql(
                        LEAF_SELECT + " WHERE notification_id > %s"
                        " ORDER BY notification_id LIMIT %s"
                    ),
                    (after, BATCH),
                )
                rows = cursor.fetchall()
            if not rows:
                return
            for row in rows:
                yield int(row["notification_id"]), row_leaf(row)
            after = int(rows[-1]["notification_id"])

    def record(self, position: int) -> bytes:
        """The leaf bytes of the stored record at ``position``, read from the events table."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self.sql(LEAF_SELECT + " WHERE notification_id = %s"),
                (position,),
            )
            row = cursor.fetchone()
        if row is None:
            msg = f"no record at position {position}"
            raise ProofError(msg)
        return row_leaf(row)

    def latest_checkpoint(self) -> Kept | None:
        found = self._checkpoints("ORDER BY id DESC LIMIT 1")
        return found[0] if found else None

    def checkpoints_after(self, after: int, limit: int) -> list[Kept]:
        """The checkpoints kept after number ``after``, oldest first, at most ``limit``."""
        return self._checkpoints("WHERE id > %s ORDER BY id LIMIT %s", after, limit)

    def checkpoint_of_size(self, size: int) -> Kept | None:
        """The latest checkpoint kept of a tree of ``size`` leaves."""
        found = self._checkpoints("WHERE size = %s ORDER BY id DESC LIMIT 1", size)
        return found[0] if found else None

    def status(self) -> tuple[Head, int, Kept | None]:
        """The head, the lag and the latest checkpoint as of one moment: read apart, a
        tree appended to in between would show its old size with no lag, and records
        stored that no checkpoint covers would look covered."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(self.sql("SELECT size, position FROM {head}"))
            row = one(cursor)
            head = Head(int(row["size"]), int(row["position"]))
            cursor.execute(
                self.sql("SELECT count(*) AS n FROM {events} WHERE notification_id > %s"),
                (head.position,),
            )
            lag = int(one(cursor)["n"])
            latest = self._read_checkpoints(cursor, "ORDER BY id DESC LIMIT 1")
        return head, lag, latest[0] if latest else None

    def _checkpoints(self, where: str, *params: object) -> list[Kept]:
        with self.datastore.transaction(commit=False) as cursor:
            return self._read_checkpoints(cursor, where, *params)

    def _read_checkpoints(self, cursor: Any, where: str, *params: object) -> list[Kept]:
        cursor.execute(
            self.sql(f"SELECT id, note, size, root, made_at FROM {{checkpoints}} {where}"),  # noqa: S608 - where is one of this class's constants
            params,
        )
        rows = cursor.fetchall()
        return [
            Kept(row["note"], int(row["size"]), bytes(row["root"]), row["made_at"], int(row["id"]))
            for row in rows
        ]

    def keep_checkpoint(self, size: int, digest: bytes, note: str) -> Kept:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                self.sql(
                    "INSERT INTO {checkpoints} (size, root, note) VALUES (%s, %s, %s)"
                    " RETURNING id, made_at"
                ),
                (size, digest, note),
            )
            row = one(cursor)
        return Kept(note, size, digest, row["made_at"], int(row["id"]))

    def keep_cosignatures(self, checkpoint: int, cosignatures: list[Cosignature]) -> None:
        """Keep the witnesses' lines over checkpoint number ``checkpoint`` (a line kept
        before stays as it was)."""
        with self.datastore.transaction(commit=True) as cursor:
            for cosignature in cosignatures:
                cursor.execute(
                    self.sql(
                        "INSERT INTO {cosignatures} (checkpoint, key_name, key_hash, line)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                    ),
                    (checkpoint, cosignature.key_name, cosignature.key_hash, cosignature.line),
                )

    def cosignatures(self, checkpoint: int) -> list[Cosignature]:
        """The witnesses' lines kept over checkpoint number ``checkpoint``, in the order
        they were added."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self.sql(
                    "SELECT key_name, key_hash, line FROM {cosignatures} WHERE checkpoint = %s"
                    " ORDER BY added_at, key_name, key_hash"
                ),
                (checkpoint,),
            )
            rows = cursor.fetchall()
        return [Cosignature(r["key_name"], int(r["key_hash"]), r["line"]) for r in rows]

    def earliest_checkpoint_of(self, size: int) -> Kept | None:
        """The first checkpoint kept whose tree has at least ``size`` leaves."""
        found = self._checkpoints("WHERE size >= %s ORDER BY id LIMIT 1", size)
        return found[0] if found else None

    def leaves_up_to(self, position: int) -> int:
        """How many leaves the records up to ``position`` are (whether the tree holds
        them yet or not): one per stored record."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self.sql("SELECT count(*) AS n FROM {events} WHERE notification_id <= %s"),
                (position,),
            )
            return int(one(cursor)["n"])
