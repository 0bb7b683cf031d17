"""The ingest worker: a faust-streaming agent on ``agency-events``.

It takes records in batches (``take_events`` with a ``within`` bound), hands each
batch to :class:`~services.ingest.BatchIngestor` (one PostgreSQL transaction per
partition, with the offset), and acks the batch only after it is stored.

The store, not Kafka's committed offset, is the truth: every record at or below the
offset stored for its partition is skipped. Kafka's committed offset only ever lags
the store (a batch is acked after it is stored), so resuming from it never skips an
unstored record; it may re-read stored ones, which are skipped. The worker does not
seek explicitly: a seek during faust's rebalance raced aiokafka's fetcher here (a
``KeyError`` that crashed the fetcher and stalled the worker).

Settings (environment variables): ``LIENTHONG_KAFKA_BOOTSTRAP`` (default
``127.0.0.1:19092``), ``LIENTHONG_INGEST_BATCH`` (default 500),
``LIENTHONG_INGEST_WITHIN_SECONDS`` (default 0.2), ``LIENTHONG_INGEST_GROUP``
(default ``lienthong-ingest``), ``LIENTHONG_TOPIC_PREFIX`` (default none: prefixes
every topic name, so several installations or test runs can share a cluster).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, cast

import faust

from services.app import Lienthong
from services.ingest import BatchIngestor, Record

AGENCY_EVENTS = "agency-events"
REJECTED = "agency-events.rejected"
COORDINATION_EVENTS = "coordination-events"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:19092"
    batch: int = 500
    within: float = 0.2
    group: str = "lienthong-ingest"
    prefix: str = ""

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @classmethod
    def from_env(cls) -> KafkaSettings:
        defaults = cls()
        return cls(
            bootstrap=os.environ.get("LIENTHONG_KAFKA_BOOTSTRAP", defaults.bootstrap),
            batch=int(os.environ.get("LIENTHONG_INGEST_BATCH", defaults.batch)),
            within=float(os.environ.get("LIENTHONG_INGEST_WITHIN_SECONDS", defaults.within)),
            group=os.environ.get("LIENTHONG_INGEST_GROUP", defaults.group),
            prefix=os.environ.get("LIENTHONG_TOPIC_PREFIX", defaults.prefix),
        )


def record_of(event: Any) -> Record:
    message = event.message
    return Record(message.topic, message.partition, message.offset, bytes(event.value))


def build_worker(app: Lienthong, settings: KafkaSettings) -> faust.App:
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


def run_worker(app: Lienthong, settings: KafkaSettings) -> None:
    """Run the ingest worker until SIGINT or SIGTERM."""
    worker = build_worker(app, settings)
    faust.Worker(worker, loglevel="INFO").execute_from_commandline()
