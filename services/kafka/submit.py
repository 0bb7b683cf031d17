"""Full mode: ``IngestService.Publish`` goes through Kafka.

The envelope is produced to ``agency-events`` (keyed by subject, acks=all, idempotent
producer) exactly as an agency system would, and the call waits — bounded — for the
ingest worker's receipt in the store. It does not poll: the API server's live views
follow the log, and each time they have applied new positions the waiting calls are
woken and look for their receipt (one query per wake-up). When the verdict is not
there in time the caller gets UNAVAILABLE and retries with the same event id (a
duplicate is answered with the first verdict, at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from projections.engine.live import LiveViews
from projections.engine.rows import Changes
from services.app.ledger import Ledger
from services.app.submissions import (
    Command,
    Refusal,
    Verdict,
    VerdictPendingError,
    first_verdict,
    known,
    receipt_of,
)


class LogMoved:
    """Tells threads when the live views have applied new positions: a subscriber of
    the views (called on the event loop) that wakes whoever waits on a condition."""

    def __init__(self) -> None:
        self.moves = 0  # how many hand-overs of the views so far
        self.condition = threading.Condition()

    def __call__(self, _changes: Changes, _position: int) -> None:
        with self.condition:
            self.moves += 1
            self.condition.notify_all()

    def wait(self, seen: int, deadline: float) -> int:
        """Block until the views move past ``seen`` moves, or until ``deadline``
        (``time.monotonic``); returns the moves so far."""
        with self.condition:
            while self.moves == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.condition.wait(remaining)
            return self.moves


class KafkaSubmitter:
    """Full mode's forward (see :mod:`services.grpc.ingest`). Make it on the event loop
    that ``live`` hands its changes to: it subscribes to them."""

    def __init__(
        self, app: Ledger, producer: Any, topic: str, wait_seconds: float, live: LiveViews
    ) -> None:
        self.app = app
        self.producer = producer
        self.topic = topic
        self.wait_seconds = wait_seconds
        self.moved = LogMoved()
        live.subscribers.add(self.moved)

    @classmethod
    def following(
        cls, app: Ledger, producer: Any, topic: str, wait_seconds: float
    ) -> Callable[[LiveViews], KafkaSubmitter]:
        """The submitter to make once the API server's live views are there."""
        return lambda live: cls(app, producer, topic, wait_seconds, live)

    def __call__(self, command: Command, payload: bytes) -> Verdict:
        verdict = known(self.app, command)
        if verdict is not None:
            return verdict
        sent = self.producer.send(self.topic, key=command.subject.encode(), value=payload)
        metadata = sent.get(timeout=self.wait_seconds)
        deadline = time.monotonic() + self.wait_seconds
        seen = self.moved.moves  # before looking: a receipt recorded after the look wakes us
        while True:
            receipt = receipt_of(self.app, command.receipt_id)
            if receipt is not None and command.reuses(receipt):
                # another payload was first under this key: the worker refuses this one
                return Refusal.reuse(command, receipt).verdict(command.event_id)
            if receipt is not None:
                return first_verdict(self.app, receipt)
            # Refused unverified (its signature): keyed by event id and digest. Once the
            # worker stored this record's offset, that receipt answers it.
            if self.stored(metadata.topic, metadata.partition, metadata.offset):
                refused = receipt_of(self.app, command.unverified().receipt_id)
                if refused is not None:
                    return first_verdict(self.app, refused)
            if time.monotonic() >= deadline:
                break
            seen = self.moved.wait(seen, deadline)
        msg = (
            f"{command.event_id} is on Kafka; its verdict is not recorded yet"
            " — retry with the same event id"
        )
        raise VerdictPendingError(msg)

    def stored(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the ingest worker stored the record at ``offset`` (and before)."""
        recorder: Any = self.app.recorder
        stored = recorder.max_tracking_id(f"{topic}:{partition}")
        return stored is not None and stored >= offset
