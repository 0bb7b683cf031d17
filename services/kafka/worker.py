"""The ingest worker: a faust-streaming agent on ``agency-events``.

It takes records in batches (``take_events`` with a ``within`` bound) and hands each
batch to :class:`~services.kafka.ingest.BatchIngestor`, which stores its events,
receipts and offsets in one PostgreSQL transaction.

The store, not Kafka's committed offset, is the truth, and the worker enforces it
(:class:`Positions`):

- On every partition assignment, and after any gap, the partition is positioned at
  the store's next offset (stored + 1, or the partition's log start when nothing is
  stored). The seek goes through faust's ``Consumer.seek_wait``, which runs aiokafka's
  ``seek`` in the consumer's own thread, and only while no rebalance is under way —
  from the agent before a batch, or from a timer when no records arrive. (faust's
  ``Consumer.seek`` calls aiokafka from the agent's thread, racing the fetcher: a
  ``KeyError`` crashed it here once; it is not used.)
- A batch keeps, per partition, only the records that continue where the store
  stops; records before it are stored already, records after a hole (fetched before
  the seek, or skipped) are dropped and read again after it. The storing transaction
  checks the same under the table lock and refuses anything else
  (:class:`~services.store.recorder.OffsetGapError`, logged; the partition is
  positioned again).
- A database or broker error never leaves the agent: the same batch is tried again
  with backoff until it is stored, each failure logged. faust's ``take_events`` acks
  a batch when the agent's body leaves it, even by an exception, and faust then
  restarts the agent past it; so nothing is let out. Any other error stops the
  process (status :data:`EXIT_FAILED`) for its supervisor to restart.

faust acks every record it hands over (stored, skipped or dropped), so Kafka's
committed offset says nothing; only the positions above matter.

Every record's signature is verified against the trust anchors (loaded when the
worker starts: ``LIENTHONG_TRUST_ANCHORS``, see :mod:`services.app.identity`); a large
batch's ECDSA checks run in a helper process the worker starts
(:mod:`services.kafka.signatures`), which exits when the worker is gone.

Every verdict is counted (``lienthong_submissions_total``) and logged with the
submission's event id and subject; each held partition's lag (what its high
watermark holds beyond the store's next offset) is ``lienthong_kafka_consumer_lag_records``
(:mod:`services.metrics`).

Settings: :class:`services.kafka.topics.KafkaSettings`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import faust
from aiokafka.errors import KafkaError
from faust.types import TP
from google.protobuf.message import DecodeError
from lienthong.v1 import envelope_pb2

from services.app.identity import TrustAnchors
from services.app.ledger import Ledger
from services.app.submissions import Verdict
from services.kafka.ingest import BatchIngestor, Record, tracking_name
from services.kafka.topics import AGENCY_EVENTS, KafkaSettings
from services.kafka.vitals import Vitals
from services.logs import log_verdict, logging_config
from services.metrics import CONSUMER_LAG, count_verdict
from services.runtime import collect_less
from services.store.database import STORE_ERRORS
from services.store.recorder import OffsetGapError, stored_offsets

log = logging.getLogger(__name__)

# Waits between tries of a batch while the database or the broker is away.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
# How often partitions assigned without records arriving are positioned.
POSITION_EVERY_SECONDS = 0.5
EXIT_FAILED = 70
# Records faust may hold fetched for the agent, at least (its default).
STREAM_BUFFER_MIN = 4096
TRANSIENT = (*STORE_ERRORS, KafkaError, TimeoutError)


def record_of(event: Any) -> Record:
    message = event.message
    return Record(message.topic, message.partition, message.offset, bytes(event.value))


class Positions:
    """The next offset to store of each partition the worker holds, read from the store."""

    def __init__(self, app: faust.App, ingestor: BatchIngestor, topic: str) -> None:
        self.app = app
        self.ingestor = ingestor
        self.topic = topic
        self.expected: dict[TP, int] = {}  # positioned partitions → the next offset to store
        self.unpositioned: set[TP] = set()
        self.log_starts: dict[str, int] = {}  # tracking name → the partition's first offset
        self.lock = asyncio.Lock()  # one of: positioning, storing

    def assigned(self, partitions: Iterable[TP]) -> None:
        for tp in partitions:
            if tp.topic == self.topic:
                self.lost(tp)

    def revoked(self, partitions: Iterable[TP]) -> None:
        for tp in partitions:
            self.expected.pop(tp, None)
            self.unpositioned.discard(tp)

    def lost(self, tp: TP) -> None:
        """Position ``tp`` again before storing anything of it."""
        self.expected.pop(tp, None)
        self.unpositioned.add(tp)

    async def position(self) -> None:
        """Seek every unpositioned partition the consumer holds to the store's next
        offset (not during a rebalance: then the next call does it)."""
        consumer = self.app.consumer
        if not self.unpositioned or self.app.rebalancing:
            return
        held = consumer.assignment()
        self.unpositioned &= held
        names = {tracking_name(tp.topic, tp.partition): tp for tp in self.unpositioned}
        if not names:
            return
        recorder = self.ingestor.recorder
        stored = await asyncio.to_thread(stored_offsets, recorder, list(names))
        empty = [tp for name, tp in names.items() if name not in stored]
        starts = await consumer.earliest_offsets(*empty) if empty else {}
        targets: dict[TP, int] = {}
        for name, tp in names.items():
            if name in stored:
                targets[tp] = stored[name] + 1
            else:
                targets[tp] = self.log_starts[name] = starts[tp]
        await consumer.seek_wait(targets)
        for tp, offset in targets.items():
            self.expected[tp] = offset
            self.unpositioned.discard(tp)
            log.info(
                "%s:%d positioned at offset %d, the store's next", tp.topic, tp.partition, offset
            )

    def admit(self, records: Sequence[Record]) -> list[Record]:
        """The records that continue their positioned partitions from the store's next
        offset, in order; a partition whose records skip ahead is positioned again."""
        admitted: list[Record] = []
        nexts = dict(self.expected)
        for record in records:
            tp = TP(record.topic, record.partition)
            want = nexts.get(tp)
            if want is None or record.offset < want:
                continue  # not positioned (read again after the seek), or stored already
            if record.offset > want:
                log.warning(
                    "%s: offset %d after %d expected; positioning again",
                    record.origin,
                    record.offset,
                    want,
                )
                del nexts[tp]
                self.lost(tp)
                continue
            admitted.append(record)
            nexts[tp] = want + 1
        return admitted

    def stored(self, records: Sequence[Record]) -> None:
        """``records`` (admitted) are stored: their partitions continue after them."""
        for record in records:
            tp = TP(record.topic, record.partition)
            if self.expected.get(tp) == record.offset:
                self.expected[tp] = record.offset + 1

    def gap(self, error: OffsetGapError) -> None:
        topic, _, partition = error.name.rpartition(":")
        self.lost(TP(topic, int(partition)))

    def observe_lag(self) -> None:
        """Each positioned partition's lag behind its high watermark, as last fetched."""
        CONSUMER_LAG.clear()
        for tp, expected in self.expected.items():
            highwater = self.app.consumer.highwater(tp)
            if highwater is not None:
                CONSUMER_LAG.labels(str(tp.partition)).set(max(0, highwater - expected))


def subject_of(record: Record) -> str:
    """The subject a record's envelope names (empty when it is no envelope)."""
    try:
        return str(envelope_pb2.AgencyEventEnvelope.FromString(record.value).subject)
    except DecodeError:
        return ""


def decided(record: Record, verdict: Verdict) -> None:
    """Count a record's verdict and log it with its event id and subject."""
    count_verdict(verdict.outcome, verdict.reason_code)
    subject = subject_of(record)
    log_verdict(
        log, verdict.event_id, subject, verdict.outcome, verdict.reason_code, origin=record.origin
    )


class Storer:
    """Positions, admits and stores batches, retrying through database and broker outages."""

    def __init__(self, positions: Positions, health: Vitals | None = None) -> None:
        self.positions = positions
        self.health = health or Vitals()  # what the health service says (services.kafka.vitals)

    async def store(self, records: Sequence[Record]) -> None:
        """Store what ``records`` hold after the store's offsets; positions first."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._once(records)
            except OffsetGapError as gap:
                log.error("refused a batch: %s", gap)  # noqa: TRY400 - the reason is the message
                self.positions.gap(gap)
            except TRANSIENT as error:
                self.health.failed(error)
                log.exception("storing a batch failed; trying again in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            except Exception:
                self.health.stopped()
                log.critical("storing a batch failed; stopping the worker", exc_info=True)
                os._exit(EXIT_FAILED)
            else:
                self.health.done()
                return

    async def _once(self, records: Sequence[Record]) -> None:
        positions = self.positions
        async with positions.lock:
            await positions.position()
            admitted = positions.admit(records)
            if not admitted:
                return
            ingestor = positions.ingestor
            results = await asyncio.to_thread(ingestor.ingest, admitted, positions.log_starts)
            positions.stored(admitted)
        for record, verdict in results:
            decided(record, verdict)
        rejected = sum(1 for _, verdict in results if verdict.outcome == "rejected")
        log.info("stored %d record(s), %d rejected", len(results), rejected)


def build_worker(
    app: Ledger,
    settings: KafkaSettings,
    anchors: TrustAnchors | None = None,
    health: Vitals | None = None,
) -> faust.App:
    """The faust app of the ingest worker, ready for ``faust.Worker``. ``anchors``:
    the trust anchors signatures are checked against (default: the configured ones);
    ``health``: told how the worker goes."""
    health = health or Vitals()
    anchors = anchors or TrustAnchors.load()
    worker = faust.App(
        settings.group,
        broker=f"kafka://{settings.bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        # faust keeps nothing there with a memory store, but makes the folder: keep it
        # out of the working directory
        datadir=str(Path(tempfile.gettempdir()) / f"lienthong-faust-{settings.group}"),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        producer_acks=-1,
        # A worker killed with -9 is noticed after the session timeout: keep it short.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        # records fetched ahead of the agent: two batches (faust's 4,096 made the
        # fetcher stop and start within a batch of 5,000)
        stream_buffer_maxsize=max(STREAM_BUFFER_MIN, 2 * settings.batch),
    )
    incoming = settings.topic(AGENCY_EVENTS)
    topic = worker.topic(incoming, value_serializer="raw", key_serializer="raw")
    ingestor = BatchIngestor(app, anchors=anchors)
    ingestor.pool.start()  # the signature helper, up before the first large batch
    positions = Positions(worker, ingestor, incoming)
    storer = Storer(positions, health)

    @worker.agent(topic)
    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.batch, within=settings.within):
            await storer.store([record_of(e) for e in events])

    async def keep_positioned() -> None:
        if positions.unpositioned:
            await storer.store([])
        positions.observe_lag()
        health.beat()  # the worker's loop comes round

    worker.timer(POSITION_EVERY_SECONDS)(keep_positioned)

    async def on_assigned(_sender: Any, assigned: Any, **_: Any) -> None:
        positions.assigned(assigned)
        health.done()  # a member of the group, its partitions assigned

    async def on_revoked(_sender: Any, revoked: Any, **_: Any) -> None:
        positions.revoked(revoked)

    worker.on_partitions_assigned.connect(cast("Any", on_assigned))
    worker.on_partitions_revoked.connect(cast("Any", on_revoked))
    del ingest  # registered with the app by the decorator
    return worker


def run_worker(app: Ledger, settings: KafkaSettings, health: Vitals | None = None) -> None:
    """Run the ingest worker until SIGINT or SIGTERM (``health``: told how it goes)."""
    worker = build_worker(app, settings, health=health)
    collect_less()
    faust.Worker(
        worker, loglevel="INFO", logging_config=logging_config(logging.INFO)
    ).execute_from_commandline()
