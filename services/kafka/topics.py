"""The one place for Kafka's facts: topic names, their partitions, the settings of the
worker, the relay and full mode, and the producer every writer uses.

Used by the worker, the relay, the checkpointer, full mode, ``deploy/kafka/topics.py``
(which creates the topics), the SDK's publisher and the benchmarks.

Settings (environment variables): ``LIENTHONG_KAFKA_BOOTSTRAP`` (default
``127.0.0.1:19092``), ``LIENTHONG_INGEST_BATCH`` (default 500),
``LIENTHONG_INGEST_WITHIN_SECONDS`` (default 0.2), ``LIENTHONG_INGEST_GROUP``
(default ``lienthong-ingest``), ``LIENTHONG_TOPIC_PREFIX`` (default none: prefixes
every topic name, so several installations or test runs can share a cluster),
``LIENTHONG_VERDICT_WAIT_SECONDS`` (default 10: in full mode, how long Publish waits
for the ingest worker's verdict before answering UNAVAILABLE).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, cast

AGENCY_EVENTS = "agency-events"
"""Inbound envelopes from the agencies, keyed by subject (one subject, one partition)."""
AGENCY_EVENTS_REJECTED = "agency-events.rejected"
"""Inbound envelopes that were refused, with their reason, under their event id."""
COORDINATION_EVENTS = "coordination-events"
"""Outbound: the store's log, as ``lienthong.v1.AuditEvent`` keyed by subject."""
LOG_CHECKPOINTS = "log-checkpoints"
"""Outbound: every signed checkpoint of the log as kept (the note's text, UTF-8), keyed
by the log's origin, its tree size in the ``tree_size`` header."""
REMINDERS = "reminders"
"""Outbound: reminders (đôn đốc) to units that owe a report, as ``lienthong.v1.Reminder``
keyed by the unit's agency id, derived from the log's REPORT_MISSING flags
(``lienthong reminders``)."""
TOPICS = (AGENCY_EVENTS, AGENCY_EVENTS_REJECTED, COORDINATION_EVENTS, LOG_CHECKPOINTS, REMINDERS)
DEFAULT_PARTITIONS = 6
PREFIX_ENV = "LIENTHONG_TOPIC_PREFIX"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:19092"
    batch: int = 500
    within: float = 0.2
    group: str = "lienthong-ingest"
    prefix: str = ""
    verdict_wait_seconds: float = 10.0  # full mode: how long Publish waits for a verdict

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
            prefix=os.environ.get(PREFIX_ENV, defaults.prefix),
            verdict_wait_seconds=float(
                os.environ.get("LIENTHONG_VERDICT_WAIT_SECONDS", defaults.verdict_wait_seconds)
            ),
        )


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` Lienthong's writers use."""

    def send(
        self,
        topic: str,
        *,
        value: bytes,
        key: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def kafka_producer(bootstrap: str, linger_ms: int = 5) -> Producer:
    """An idempotent producer that waits for every in-sync replica (acks=all)."""
    from kafka import KafkaProducer  # noqa: PLC0415 - a writer's import, not a reader's

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=linger_ms
    )
    return cast("Producer", producer)
