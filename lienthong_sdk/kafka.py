"""Publishing envelopes straight to Kafka (``agency-events``), for agency systems that
prefer a topic to gRPC. Same bytes as ``IngestService``; the verdict lands in the store
(and, for refusals, on ``agency-events.rejected``)."""

from __future__ import annotations

from typing import Any

from lienthong.v1 import envelope_pb2

from lienthong_sdk._rpc import Closing
from lienthong_sdk.identity import Signer
from services.kafka.topics import AGENCY_EVENTS, kafka_producer


class KafkaPublisher(Closing):
    """An idempotent producer (acks=all) keyed by subject, so a subject's events stay in
    order. With a ``signer`` (``Identity.signer()``), every envelope that is not signed
    yet is signed before it is sent: the topic's consumers refuse unsigned ones (the
    broker's own SASL/TLS is the deployment's business)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str = AGENCY_EVENTS,
        timeout: float = 30.0,
        signer: Signer | None = None,
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self.signer = signer
        self.producer = kafka_producer(bootstrap, linger_ms=0)

    def publish(self, envelope: envelope_pb2.AgencyEventEnvelope) -> Any:
        """Send one envelope (signed first, in place, when it is not and there is a
        signer) and wait until the broker has it; its record metadata."""
        if self.signer is not None and not envelope.signature.signature:
            self.signer.sign(envelope)
        future = self.producer.send(
            self.topic, key=envelope.subject.encode(), value=envelope.SerializeToString()
        )
        return future.get(timeout=self.timeout)

    def close(self) -> None:
        self.producer.flush(timeout=self.timeout)
        self.producer.close()
