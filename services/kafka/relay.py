"""The outbound relay: the event store's notification log → Kafka.

It follows the log with its own tracking (``relay:coordination-events``) and
publishes every recorded event, as a ``lienthong.v1.AuditEvent`` with its message id
and log position, to ``coordination-events`` (keyed by subject, so each subject's
events stay in order). A rejection receipt also copies the bytes it refused to
``agency-events.rejected``, with the reason in the headers (``reason_code``, and
``message``: the code's Vietnamese sentence, then the receipt's detail). There is no dual write:
everything published is derived from the log. After a restart the relay resumes after
its tracked position; what it published but had not tracked yet is published again,
and consumers dedupe by ``position``. When PostgreSQL or the broker is away, the relay
logs the failure and tries again with backoff (from :data:`RETRY_FIRST_SECONDS`,
doubling, at most :data:`RETRY_MAX_SECONDS`) until it is back.

What it published is ``lienthong_relay_published_total``, what it has yet to publish
``lienthong_relay_lag_records`` (:mod:`services.metrics`); a submission's receipt
published is logged with its event id and subject.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, cast

from eventsourcing.persistence import ProcessRecorder, Tracking
from kafka.errors import KafkaError

from domain.facts import Fact
from domain.messages import vietnamese_first
from domain.submission import Submission
from projections.engine.audit_log import AuditLog
from services.app.ledger import Ledger
from services.kafka.topics import AGENCY_EVENTS_REJECTED, COORDINATION_EVENTS, Producer
from services.kafka.vitals import Vitals
from services.logs import submission_log
from services.metrics import RELAY_LAG, RELAYED
from services.store.database import STORE_ERRORS
from services.wire.convert import audit_message

TRACKING = "relay:coordination-events"
BATCH = 500
POLL_SECONDS = 0.2
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
log = logging.getLogger(__name__)


class Relay:
    def __init__(self, app: Ledger, producer: Producer, prefix: str = "") -> None:
        self.app = app
        self.prefix = prefix
        self.tracking = f"{prefix}{TRACKING}"
        self.recorder = cast("ProcessRecorder", app.recorder)
        self.producer = producer
        self.log = AuditLog(app)

    def position(self) -> int:
        """The last log position published and tracked."""
        return self.recorder.max_tracking_id(self.tracking) or 0

    def step(self, limit: int = BATCH) -> int:
        """Publish the next events of the log; returns how many."""
        tracked = self.position()
        notifications = self.app.recorder.select_notifications(tracked + 1, limit)
        for notification in notifications:
            event = cast("Fact", self.app.mapper.to_domain_event(notification))
            self.publish(notification.id, event)
        if notifications:
            self.producer.flush()
            self.recorder.insert_tracking(Tracking(self.tracking, notifications[-1].id))
            RELAYED.inc(len(notifications))
            tracked = notifications[-1].id
        RELAY_LAG.set(max(0, (self.app.recorder.max_notification_id() or 0) - tracked))
        return len(notifications)

    def publish(self, position: int, event: Fact) -> None:
        record = self.log.record(position, event)
        headers = [("message_id", event.message_id.encode()), ("position", str(position).encode())]
        key = record["subject"].encode()
        value = audit_message(record).SerializeToString()
        self.producer.send(self.prefix + COORDINATION_EVENTS, value=value, key=key, headers=headers)
        if isinstance(event, Submission.Accepted | Submission.Rejected):
            outcome = "rejected" if isinstance(event, Submission.Rejected) else "accepted"
            submission_log(log, event.event_id, event.subject, position=position).info(
                "published the receipt of a submission %s", outcome, extra={"outcome": outcome}
            )
        if isinstance(event, Submission.Rejected):
            refusal = [
                ("reason_code", event.reason_code.encode()),
                ("origin", event.origin.encode()),
                # for whoever reads it: Vietnamese first, then the receipt's detail
                ("message", vietnamese_first(event.reason_code, event.message).encode()),
            ]
            raw = base64.b64decode(event.raw)
            self.producer.send(
                self.prefix + AGENCY_EVENTS_REJECTED,
                value=raw,
                key=event.event_id.encode(),
                headers=headers + refusal,
            )

    def run(self, should_stop: Any = lambda: False, health: Vitals | None = None) -> None:
        """Follow the log until ``should_stop()``, through outages of the store or the
        broker (``health``: told how it goes)."""
        health = health or Vitals()
        delay = RETRY_FIRST_SECONDS
        while not should_stop():
            try:
                published = self.step()
            except (*STORE_ERRORS, KafkaError) as error:
                health.failed(error)
                log.exception("relaying failed; trying again in %.1f s", delay)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            health.done()
            delay = RETRY_FIRST_SECONDS
            if not published:
                time.sleep(POLL_SECONDS)
