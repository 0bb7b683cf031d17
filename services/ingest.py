"""Ingesting a batch of Kafka records: exactly-once effect, nothing lost.

For each partition of a batch, every record becomes one receipt (accepted, rejected
or — when its event id was seen before — nothing, as a duplicate); the domain events,
the receipts and the partition's offset are written in ONE PostgreSQL transaction
(the library's process-recorder tracking, named ``topic:partition``). The store, not
Kafka's committed offset, is the truth: records at or below the stored offset are
skipped (see :mod:`services.worker`).

A batch that meets another writer (a review by the coordination office changed an
item meanwhile) falls back to one transaction per record — reload, retry — and then
records the offset; receipts make that safe.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresProcessRecorder
from google.protobuf.message import DecodeError
from lienthong.v1 import envelope_pb2

from domain.errors import DomainError
from domain.ids import parse_ref
from domain.submission import Submission, submission_id
from services.api.convert import command_from_envelope
from services.api.errors import RequestInvalidError
from services.app import Actor, Cache, Lienthong
from services.submissions import (
    Command,
    Refusal,
    Verdict,
    receipt_of,
    record_invalid,
    rejection,
    submit,
)

log = logging.getLogger(__name__)
CHANNEL = "kafka"
# Records per transaction. psycopg's pipeline (which the library uses to insert)
# can stall when one transaction's data outgrows the socket buffers, so a larger
# batch from Kafka is stored in transactions of at most this many records.
CHUNK = 100


@dataclass(frozen=True)
class Record:
    """One Kafka record, as plain values."""

    topic: str
    partition: int
    offset: int
    value: bytes

    @property
    def origin(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Decoded:
    """A record read as a command, or the refusal of a record that cannot be one."""

    record: Record
    command: Command
    refusal: Refusal | None = None


def decode(record: Record) -> Decoded:
    """The command a record carries; undecodable or invalid records become refusals."""
    digest = hashlib.sha256(record.value).hexdigest()
    raw = base64.b64encode(record.value).decode()
    envelope = envelope_pb2.AgencyEventEnvelope()
    try:
        envelope.ParseFromString(record.value)
        command = command_from_envelope(envelope, CHANNEL)
    except (DecodeError, RequestInvalidError) as error:
        undecodable = isinstance(error, DecodeError)
        event_id = f"sha256:{digest}" if undecodable else envelope.event_id or f"sha256:{digest}"
        agency = "unknown" if undecodable else envelope.agency_id or "unknown"
        actor = Actor(agency=agency, channel=CHANNEL, message_id=event_id)
        command = Command(event_id, "", "", actor, digest=digest, origin=record.origin, raw=raw)
        code = "UNDECODABLE" if undecodable else "INVALID_REQUEST"
        field = "" if undecodable else error.violations[0].field  # type: ignore[union-attr]
        return Decoded(record, command, Refusal(code, "invalid", str(error) or code, field))
    command = Command(
        command.event_id,
        command.kind,
        command.subject,
        command.actor,
        command.args,
        command.evidence,
        digest=digest,
        origin=record.origin,
        raw=raw,
    )
    return Decoded(record, command)


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def insert_events(
    recorder: ApplicationRecorder, stored: Sequence[StoredEvent], tracking: Tracking | None = None
) -> list[int]:
    """Store ``stored`` and ``tracking`` in ONE transaction, as the library's
    ``insert_events(..., tracking=...)`` does, but without psycopg's pipeline mode;
    returns the events' notification ids (log positions), in order.

    The library sends a transaction's statements as one pipeline. psycopg 3.3's
    ``pipeline_communicate`` ignores the result of ``PQflush()`` after the last
    command: when the statements outgrow the socket's send buffer (a few hundred
    events), the rest of the INSERT stays in libpq's buffer while psycopg waits for
    results, and the server waits for the rest of the INSERT (``ClientRead``) —
    forever. Without a pipeline these are four round trips per transaction, which
    is nothing at thousands of events per transaction. Same statements, same
    table lock (notification ids stay gap-free in commit order), same NOTIFY.
    """
    if not isinstance(recorder, PostgresProcessRecorder):
        return list(recorder.insert_events(stored, tracking=tracking) or [])
    ids: list[int] = []
    with recorder.datastore.transaction(commit=True) as cursor:
        if tracking is not None:
            recorder._insert_tracking(cursor, tracking)  # noqa: SLF001
        if stored:
            recorder._lock_table(cursor)  # noqa: SLF001
            recorder._notify_channel(cursor)  # noqa: SLF001
            rows = [
                recorder.construct_pg_stored_event(
                    e.originator_id, e.originator_version, e.topic, e.state
                )
                for e in stored
            ]
            cursor.execute(recorder.insert_events_statement, (rows,))
            ids = [row["notification_id"] for row in cursor.fetchall()]
    return ids


class BatchIngestor:
    """Applies batches of records to the application, one transaction per partition."""

    def __init__(self, app: Lienthong) -> None:
        self.app = app
        recorder = app.recorder
        if not isinstance(recorder, ProcessRecorder):
            msg = "the ingestor needs an application with a process recorder (tracking)"
            raise TypeError(msg)
        self.recorder: ProcessRecorder = recorder
        # Single writer per partition: what this worker wrote stays in memory between
        # batches; a conflict with another writer empties it (and reloads).
        self.written: Cache = {}

    def stored_offset(self, topic: str, partition: int) -> int | None:
        """The last offset of ``topic:partition`` whose effect is in the store."""
        return self.recorder.max_tracking_id(tracking_name(topic, partition))

    def ingest(self, records: Sequence[Record]) -> list[tuple[Record, Verdict]]:
        """Apply a batch; returns each record's verdict (records already stored are skipped)."""
        results = []
        by_partition = groupby(
            sorted(records, key=lambda r: (r.topic, r.partition, r.offset)),
            key=lambda r: (r.topic, r.partition),
        )
        for (topic, partition), group in by_partition:
            stored = self.stored_offset(topic, partition)
            fresh = [r for r in group if stored is None or r.offset > stored]
            for start in range(0, len(fresh), CHUNK):
                results.extend(
                    self._ingest_partition(topic, partition, fresh[start : start + CHUNK])
                )
        return results

    def _ingest_partition(
        self, topic: str, partition: int, records: list[Record]
    ) -> list[tuple[Record, Verdict]]:
        tracking = Tracking(tracking_name(topic, partition), records[-1].offset)
        decoded = [decode(r) for r in records]
        try:
            return self._in_one_transaction(decoded, tracking)
        except IntegrityError:
            self.written.clear()
            log.info(
                "batch of %s met another writer; applying record by record",
                tracking.application_name,
            )
            results = [(d.record, self._alone(d)) for d in decoded]
            self.recorder.insert_tracking(tracking)
            return results

    def _alone(self, decoded: Decoded) -> Verdict:
        if decoded.refusal is not None:
            return record_invalid(self.app, decoded.command, decoded.refusal)
        return submit(self.app, decoded.command)

    def _in_one_transaction(
        self, batch: list[Decoded], tracking: Tracking
    ) -> list[tuple[Record, Verdict]]:
        cache: Cache = dict(self.written)
        receipts: dict[str, Submission] = {}
        seen = self.app.existing([submission_id(d.command.event_id) for d in batch])
        verdicts: list[tuple[Record, Verdict, UUID | None]] = []
        for decoded in batch:
            verdict, subject_id = self._apply(decoded, cache, receipts, seen)
            verdicts.append((decoded.record, verdict, subject_id))
        changed = [a for a in cache.values() if a.pending_events]
        events = [e for a in [*changed, *receipts.values()] for e in a.collect_events()]
        stored = [self.app.mapper.to_stored_event(e) for e in events]
        ids = self.recorder.insert_events(stored, tracking=tracking) or []
        self.written.update((a.id, a) for a in changed)
        positions = {
            (e.originator_id, e.originator_version): i for e, i in zip(events, ids, strict=False)
        }
        return [(r, self._with_position(v, s, positions)) for r, v, s in verdicts]

    @staticmethod
    def _with_position(
        verdict: Verdict, subject_id: UUID | None, positions: dict[tuple[UUID, int], int]
    ) -> Verdict:
        if verdict.outcome != "accepted" or subject_id is None:
            return verdict
        position = positions.get((subject_id, verdict.subject_version), 0)
        return Verdict(
            verdict.event_id, "accepted", position=position, subject_version=verdict.subject_version
        )

    def _apply(
        self, decoded: Decoded, cache: Cache, receipts: dict[str, Submission], seen: set[UUID]
    ) -> tuple[Verdict, UUID | None]:
        """Apply one record in memory: a receipt in ``receipts``, events in ``cache``.
        ``seen`` holds the receipts of this batch's event ids already in the store."""
        command = decoded.command
        earlier = receipts.get(command.event_id)
        if earlier is None and submission_id(command.event_id) in seen:
            earlier = receipt_of(self.app, command.event_id)
        if earlier is not None:
            duplicate = Verdict(
                command.event_id,
                "duplicate",
                reason_code=earlier.reason_code,
                first_outcome=earlier.outcome,
                subject_version=earlier.subject_version,
            )
            return duplicate, None
        ctx = self.app.context(command.actor)
        refusal = decoded.refusal
        if refusal is None:
            subject_id = parse_ref(command.subject).id
            current = cache.get(subject_id)
            before = len(current.pending_events) if current is not None else 0
            try:
                aggregate = self.app.prepare(
                    command.kind,
                    command.subject,
                    command.actor,
                    command.args,
                    command.evidence,
                    cache=cache,
                )
            except DomainError as error:
                refusal = Refusal.of(error)
                self._roll_back(cache, subject_id, before)
            else:
                receipts[command.event_id] = Submission.accept(
                    ctx,
                    event_id=command.event_id,
                    kind=command.kind,
                    subject=command.subject,
                    subject_version=aggregate.version,
                )
                return Verdict(
                    command.event_id, "accepted", subject_version=aggregate.version
                ), subject_id
        receipts[command.event_id], rejected = rejection(self.app, command, refusal)
        return rejected, None

    def _roll_back(self, cache: Cache, subject_id: UUID, before: int) -> None:
        """Undo what a refused command did to its aggregate (evidence it submitted
        before the refusal): rebuild it from the store and this batch's earlier events."""
        aggregate = cache.get(subject_id)
        if aggregate is None or len(aggregate.pending_events) == before:
            return
        earlier = aggregate.pending_events[:before]
        rebuilt: Any = self.app.repository.get(subject_id)
        for event in earlier:
            rebuilt = event.mutate(rebuilt)
        rebuilt.pending_events.extend(earlier)
        cache[subject_id] = rebuilt
        self.written.pop(subject_id, None)
