"""Full mode: ``IngestService.Publish`` goes through Kafka.

The envelope is produced to ``agency-events`` (keyed by subject, acks=all, idempotent
producer) exactly as an agency system would, and the call waits — bounded — for the
ingest worker's receipt in the store. When the verdict is not there in time the caller
gets UNAVAILABLE and retries with the same event id (a duplicate is answered with the
first verdict).
"""

from __future__ import annotations

import time
from typing import Any

from services.app.ledger import Ledger
from services.app.submissions import (
    Command,
    Verdict,
    VerdictPendingError,
    duplicate,
    first_verdict,
    receipt_of,
)

POLL_SECONDS = 0.02


class KafkaSubmitter:
    def __init__(self, app: Ledger, producer: Any, topic: str, wait_seconds: float) -> None:
        self.app = app
        self.producer = producer
        self.topic = topic
        self.wait_seconds = wait_seconds

    def __call__(self, command: Command, payload: bytes) -> Verdict:
        receipt = receipt_of(self.app, command.event_id)
        if receipt is not None:
            return duplicate(self.app, receipt)
        sent = self.producer.send(self.topic, key=command.subject.encode(), value=payload)
        sent.get(timeout=self.wait_seconds)
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            receipt = receipt_of(self.app, command.event_id)
            if receipt is not None:
                return first_verdict(self.app, receipt)
            time.sleep(POLL_SECONDS)
        msg = (
            f"{command.event_id} is on Kafka; its verdict is not recorded yet"
            " — retry with the same event id"
        )
        raise VerdictPendingError(msg)
