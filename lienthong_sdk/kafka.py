"""Publishing envelopes straight to Kafka (``agency-events``), for agency systems that
prefer a topic to gRPC. Same bytes as ``IngestService``; the verdict lands in the store
(and, for refusals, on ``agency-events.rejected``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from lienthong.v1 import envelope_pb2

from services.kafka.topics import AGENCY_EVENTS, kafka_producer


class KafkaPublisher:
    """An idempotent producer (acks=all) keyed by subject, so a subject's events stay in order."""

    def __init__(
        self, bootstrap: str, *, topic: str = AGENCY_EVENTS, timeout: float = 30.0
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self.producer = kafka_producer(bootstrap, linger_ms=0)

    def publish(self, envelope: envelope_pb2.AgencyEventEnvelope) -> Any:
        """Send one envelope and wait until the broker has it; its record metadata."""
        future = self.producer.send(
            self.topic, key=envelope.subject.encode(), value=envelope.SerializeToString()
        )
        return future.get(timeout=self.timeout)

    def close(self) -> None:
        self.producer.flush(timeout=self.timeout)
        self.producer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
