"""Ingesting a batch of Kafka records: exactly-once effect, nothing lost.

Every record of a batch becomes one receipt (accepted, rejected or — when its event id
was seen before — nothing, as a duplicate); the domain events, the receipts and the
offset of every partition the batch holds are written in ONE PostgreSQL transaction
(the library's process-recorder tracking, named ``topic:partition``; a batch of more
than :data:`CHUNK` records in several). The store, not
Kafka's committed offset, is the truth: records at or below the stored offset are
skipped, and the first record of each partition after them must be the next one
(stored + 1, or the partition's log start when nothing is stored): anything else is
refused with :class:`~services.store.recorder.OffsetGapError`, checked again under the
table lock in the storing transaction, so the stored offset never moves past a record
that is not stored (see :mod:`services.kafka.worker`).

Every well-formed record is verified first (:func:`~services.wire.envelopes.verified`:
its signature, by a registered key of the agency it names, at the time of the
batch), with the signing keys read through the same cache, brought up to date at
each batch — a key revoked since the last batch is seen revoked. A record that fails
is refused with its code, keyed unverified, like a malformed one. A large batch's ECDSA
checks run meanwhile in a helper process (:mod:`services.kafka.signatures`): only
whether a signature holds for its key comes from there, everything else is checked here.

A batch that meets another writer (a review by the coordination office changed an
item meanwhile) falls back to one transaction per record — reload, retry — and then
records the offset; receipts make that safe.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    ProcessRecorder,
    Tracking,
)

from domain.errors import DomainError
from domain.ids import agency_id, plan_id
from domain.items import TrackedItem
from domain.keys import KEY_ID_LENGTH, signing_key_id
from domain.submission import Submission
from services.app.identity import TrustAnchors
from services.app.ledger import Cache, Ledger
from services.app.submissions import (
    Command,
    Refusal,
    Verdict,
    acceptance,
    receipt_of,
    record_invalid,
    rejection,
    submit,
)
from services.kafka.signatures import Item, SignaturePool
from services.store.recorder import check_follows, events_after, insert_events, stored_offsets
from services.wire.envelopes import Received, receive, verified

log = logging.getLogger(__name__)
CHANNEL = "kafka"
# Records per transaction: a batch from Kafka is stored in transactions of at most
# this many records (the offsets of all its partitions in each).
CHUNK = 5000
# Aggregates kept in memory between batches (subjects, plans, agencies).
CACHE_SIZE = 250_000


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
    received: Received

    @property
    def command(self) -> Command:
        return self.received.command

    @property
    def refusal(self) -> Refusal | None:
        return self.received.refusal


def decode(record: Record) -> Decoded:
    """The command a record carries; undecodable or invalid records become refusals."""
    return Decoded(record, receive(record.value, CHANNEL, record.origin))


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def firsts_of(records: Sequence[Record]) -> dict[str, int]:
    """The first offset of each partition in ``records`` (sorted by partition and offset)."""
    firsts: dict[str, int] = {}
    for record in records:
        firsts.setdefault(tracking_name(record.topic, record.partition), record.offset)
    return firsts


class BatchIngestor:
    """Applies batches of records to the application: one transaction per batch, with
    the offset of every partition the batch holds."""

    def __init__(
        self, app: Ledger, cache_size: int = CACHE_SIZE, anchors: TrustAnchors | None = None
    ) -> None:
        self.app = app
        # None: the configured ones, loaded when first needed
        self._anchors = anchors
        recorder = app.recorder
        if not isinstance(recorder, ProcessRecorder):
            msg = "the ingestor needs an application with a process recorder (tracking)"
            raise TypeError(msg)
        self.recorder: ProcessRecorder = recorder
        # A read-through cache of the aggregates batches need (subjects, their plans,
        # the agencies of their units), kept between batches, up to ``cache_size`` of
        # them. Each batch first brings them up to date with whatever other writers
        # recorded (one query), so they are as fresh as loading them would make them;
        # the batch then changes them in memory. A conflict at insert time (another
        # writer in between), or any failure, empties it.
        self.aggregates: Cache = {}
        self.cache_size = cache_size
        self.subject_ids: dict[str, tuple[UUID, UUID]] = {}  # subject → (its id, its plan's id)
        self.agency_ids: dict[str, UUID] = {}
        self.pool = SignaturePool()  # large batches' signatures, checked alongside

    @property
    def anchors(self) -> TrustAnchors:
        if self._anchors is None:
            self._anchors = TrustAnchors.load()
        return self._anchors

    def verified(
        self,
        decoded: Decoded,
        cache: Cache | None = None,
        at: dt.datetime | None = None,
        holds: bool | None = None,
    ) -> Decoded:
        """``decoded``, its signature verified at ``at`` (default now), or refused with
        its code. ``holds``: whether the signature holds for its key, found already."""
        if decoded.refusal is not None:
            return decoded
        at = self.app.clock() if at is None else at
        received = verified(self.app, decoded.received, self.anchors, at, cache, holds)
        return Decoded(decoded.record, received)

    @staticmethod
    def signatures(batch: list[Decoded]) -> list[tuple[int, Item]]:
        """The signatures of ``batch`` a helper process may check, by record index."""
        items: list[tuple[int, Item]] = []
        for index, decoded in enumerate(batch):
            signed = decoded.received.signed
            if decoded.refusal is None and signed is not None and signed.certificate:
                item = (
                    signed.key_id,
                    signed.certificate,
                    signed.algorithm,
                    signed.signature,
                    signed.payload,
                )
                items.append((index, item))
        return items

    def ids_of(self, decoded: Decoded) -> tuple[UUID, UUID]:
        """The ids of the subject of a record that is not refused, and of its plan: from
        the subject its envelope's check parsed (uuid5 is not free: remembered)."""
        subject = decoded.command.subject
        ids = self.subject_ids.get(subject)
        if ids is None:
            ref = decoded.received.ref
            if ref is None:
                msg = f"{decoded.record.origin} is refused: it names no subject"
                raise ValueError(msg)
            if len(self.subject_ids) > self.cache_size:
                self.subject_ids.clear()
            ids = self.subject_ids[subject] = (ref.id, plan_id(ref.plan))
        return ids

    def agency_id(self, unit: str) -> UUID:
        found = self.agency_ids.get(unit)
        if found is None:
            found = self.agency_ids[unit] = agency_id(unit)
        return found

    def stored_offset(self, topic: str, partition: int) -> int | None:
        """The last offset of ``topic:partition`` whose effect is in the store."""
        return self.recorder.max_tracking_id(tracking_name(topic, partition))

    def ingest(
        self, records: Sequence[Record], log_starts: Mapping[str, int] | None = None
    ) -> list[tuple[Record, Verdict]]:
        """Apply a batch; returns each record's verdict (records already stored are
        skipped). ``log_starts``: the first offset of each partition's log (by tracking
        name; 0 when not given), where a partition with nothing stored must start.
        Raises :class:`~services.store.recorder.OffsetGapError`, storing nothing of that
        chunk, when a partition's records do not follow its stored offset."""
        starts = log_starts or {}
        fresh: list[Record] = []
        by_partition = groupby(
            sorted(records, key=lambda r: (r.topic, r.partition, r.offset)),
            key=lambda r: (r.topic, r.partition),
        )
        groups = [(tracking_name(t, p), list(g)) for (t, p), g in by_partition]
        offsets = stored_offsets(self.recorder, [name for name, _ in groups])
        for name, group in groups:
            stored = offsets.get(name)
            fresh.extend(r for r in group if stored is None or r.offset > stored)
        check_follows(offsets, firsts_of(fresh), starts)
        results: list[tuple[Record, Verdict]] = []
        for start in range(0, len(fresh), CHUNK):
            chunk = fresh[start : start + CHUNK]
            results.extend(self._ingest_chunk(chunk, starts))
        return results

    def _ingest_chunk(
        self, records: list[Record], log_starts: Mapping[str, int]
    ) -> list[tuple[Record, Verdict]]:
        last = {tracking_name(r.topic, r.partition): r.offset for r in records}
        trackings = [Tracking(n, o) for n, o in last.items()]
        firsts = firsts_of(records)
        decoded = [decode(r) for r in records]
        try:
            return self._in_one_transaction(decoded, trackings, firsts, log_starts)
        except IntegrityError:
            self.aggregates.clear()
            log.info("a batch met another writer; applying it record by record")
            results = [(d.record, self._alone(d)) for d in decoded]
            insert_events(self.recorder, [], trackings, firsts, log_starts)
            return results
        except BaseException:
            self.aggregates.clear()  # aggregates may hold changes that were not stored
            raise

    def _alone(self, decoded: Decoded) -> Verdict:
        decoded = self.verified(decoded)
        if decoded.refusal is not None:
            return record_invalid(self.app, decoded.command, decoded.refusal)
        return submit(self.app, decoded.command)

    def _in_one_transaction(
        self,
        batch: list[Decoded],
        trackings: list[Tracking],
        firsts: Mapping[str, int],
        log_starts: Mapping[str, int],
    ) -> list[tuple[Record, Verdict]]:
        # the helper process checks the signatures while this thread catches up and
        # applies; each record's answer is awaited when the record is reached
        checked = self.pool.check(self.signatures(batch))
        cache = self._refreshed(batch)
        at = self.app.clock()  # the batch's time: keys and certificates are valid then
        receipts: dict[UUID, Submission] = {}
        # keys as received; a record its signature check refuses is keyed unverified
        # then, and that key is looked up alone (rare)
        receipt_ids = [d.command.receipt_id for d in batch]
        seen = self.app.existing(receipt_ids)
        verdicts: list[tuple[Record, Verdict, UUID | None]] = []
        touched: dict[UUID, None] = {}
        for index, (received, receipt_id) in enumerate(zip(batch, receipt_ids, strict=True)):
            decoded = self.verified(received, cache, at, checked.get(index))
            if decoded.refusal is received.refusal:  # its key is the one looked up
                stored_before = receipt_id in seen
            else:
                stored_before = self.app.exists(decoded.command.receipt_id)
            verdict, subject_id = self._apply(decoded, cache, receipts, stored_before, touched)
            verdicts.append((decoded.record, verdict, subject_id))
        changed = [a for a in (cache.get(i) for i in touched) if a is not None and a.pending_events]
        events = [e for a in [*changed, *receipts.values()] for e in a.collect_events()]
        stored = [self.app.mapper.to_stored_event(e) for e in events]
        ids = insert_events(self.recorder, stored, trackings, firsts, log_starts)
        positions = {
            (e.originator_id, e.originator_version): i for e, i in zip(events, ids, strict=False)
        }
        return [(r, self._with_position(v, s, positions)) for r, v, s in verdicts]

    def _refreshed(self, batch: list[Decoded]) -> Cache:
        """The cache, holding every aggregate ``batch`` needs as the store has it now:
        the signing keys, the subjects and their plans, then the agencies of the
        subjects' units and of the records' actors."""
        needed: set[UUID] = set()
        for decoded in batch:
            if decoded.refusal is None:
                needed.update(self.ids_of(decoded))
                signed = decoded.received.signed
                if signed is not None and len(signed.key_id) == KEY_ID_LENGTH:
                    needed.add(signing_key_id(signed.key_id))
        self._catch_up(needed)
        # The agencies of the subjects' units, and the acting agencies themselves (a
        # command checks its actor's record: without it here, one query per record).
        units = {d.command.actor.agency for d in batch if d.refusal is None}
        for aggregate_id in needed:
            item = self.aggregates.get(aggregate_id)
            if isinstance(item, TrackedItem):
                units.update(item.participants, item.monitors)
        self._catch_up({self.agency_id(u) for u in units})
        if len(self.aggregates) > self.cache_size:
            for aggregate_id in list(self.aggregates)[: len(self.aggregates) - self.cache_size]:
                del self.aggregates[aggregate_id]
        return self.aggregates

    def _catch_up(self, ids: set[UUID]) -> None:
        """Load or bring up to date the aggregates ``ids`` in the cache (one query)."""
        if not ids:
            return
        cache = self.aggregates
        versions = {}
        for i in ids:
            known = cache.pop(i, None)  # re-inserted last: the latest used are evicted last
            versions[i] = 0 if known is None else known.version
            if known is not None:
                cache[i] = known
        mapper = self.app.mapper
        for aggregate_id, rows in groupby(
            events_after(self.recorder, versions), key=lambda e: e.originator_id
        ):
            aggregate: Any = cache.get(aggregate_id)
            for stored in rows:
                event: Any = mapper.to_domain_event(stored)
                aggregate = event.mutate(aggregate)
            cache.pop(aggregate_id, None)
            cache[aggregate_id] = aggregate

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
        self,
        decoded: Decoded,
        cache: Cache,
        receipts: dict[UUID, Submission],
        stored_before: bool,
        touched: dict[UUID, None],
    ) -> tuple[Verdict, UUID | None]:
        """Apply one record in memory: a receipt in ``receipts``, events in ``cache``.
        ``stored_before``: the store holds a receipt under this record's key already."""
        command = decoded.command
        earlier = receipts.get(command.receipt_id)
        if earlier is None and stored_before:
            earlier = receipt_of(self.app, command.receipt_id)
        if earlier is not None and command.reuses(earlier):
            return self._reused(command, earlier, receipts), None
        if earlier is not None:
            duplicate = Verdict(
                command.event_id,
                "duplicate",
                reason_code=earlier.reason_code,
                first_outcome=earlier.outcome,
                subject_version=earlier.subject_version,
            )
            return duplicate, None
        refusal = decoded.refusal
        if refusal is None:
            subject_id = self.ids_of(decoded)[0]
            touched[subject_id] = None
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
                receipts[command.receipt_id] = acceptance(self.app, command, aggregate.version)
                return Verdict(
                    command.event_id, "accepted", subject_version=aggregate.version
                ), subject_id
        receipts[command.receipt_id], rejected = rejection(self.app, command, refusal)
        return rejected, None

    def _reused(
        self, command: Command, first: Submission, receipts: dict[UUID, Submission]
    ) -> Verdict:
        """The refusal of a record whose key ``first`` holds for another payload, its
        receipt added to ``receipts`` unless it is on record already."""
        refusal = Refusal.reuse(command, first)
        reuse_id = command.reuse_id
        if reuse_id in receipts or self.app.exists(reuse_id):
            return refusal.verdict(command.event_id)
        receipts[reuse_id], rejected = rejection(self.app, command, refusal, reuse_id)
        return rejected

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
