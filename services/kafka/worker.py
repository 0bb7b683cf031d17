"""The ingest worker: a faust-streaming agent on ``agency-events``.

It takes records in batches (``take_events`` with a ``within`` bound), hands each
batch to :class:`~services.kafka.ingest.BatchIngestor` (one PostgreSQL transaction per
partition, with the offset), and acks the batch only after it is stored.

The store, not Kafka's committed offset, is the truth: every record at or below the
offset stored for its partition is skipped. Kafka's committed offset only ever lags
the store (a batch is acked after it is stored), so resuming from it never skips an
unstored record; it may re-read stored ones, which are skipped. The worker does not
seek explicitly: a seek during faust's rebalance raced aiokafka's fetcher here (a
``KeyError`` that crashed the fetcher and stalled the worker).

Settings: :class:`services.kafka.topics.KafkaSettings`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust

from services.app.ledger import Ledger
from services.kafka.ingest import BatchIngestor, Record
from services.kafka.topics import AGENCY_EVENTS, KafkaSettings

log = logging.getLogger(__name__)


def record_of(event: Any) -> Record:
    message = event.message
    return Record(message.topic, message.partition, message.offset, bytes(event.value))


def build_worker(app: Ledger, settings: KafkaSettings) -> faust.App:
    """The faust app of the ingest worker, ready for ``faust.Worker``."""
    worker = faust.App(
        settings.group,
        broker=f"kafka://{settings.bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        producer_acks=-1,
        # A worker killed with -9 is noticed after the session timeout: keep it short.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    incoming = settings.topic(AGENCY_EVENTS)
    topic = worker.topic(incoming, value_serializer="raw", key_serializer="raw")
    ingestor = BatchIngestor(app)

    @worker.agent(topic)
    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.batch, within=settings.within):
            records = [record_of(e) for e in events]
            results = await asyncio.to_thread(ingestor.ingest, records)
            rejected = sum(1 for _, verdict in results if verdict.outcome == "rejected")
            log.info("stored %d record(s), %d rejected", len(results), rejected)

    async def report_the_store(_sender: Any, assigned: Any, **_: Any) -> None:
        for tp in assigned:
            if tp.topic == incoming:
                stored = await asyncio.to_thread(ingestor.stored_offset, tp.topic, tp.partition)
                log.info(
                    "partition %s:%d: the store holds up to offset %s",
                    tp.topic,
                    tp.partition,
                    stored,
                )

    worker.on_partitions_assigned.connect(cast("Any", report_the_store))
    del ingest  # registered with the app by the decorator
    return worker


def run_worker(app: Ledger, settings: KafkaSettings) -> None:
    """Run the ingest worker until SIGINT or SIGTERM."""
    worker = build_worker(app, settings)
    faust.Worker(worker, loglevel="INFO").execute_from_commandline()
