"""What the views read of the event store: a narrow protocol, never the write side.

Any ``eventsourcing`` application on PostgreSQL satisfies it (the services' ledger
does); the views only replay, decode and read the log through it.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import ApplicationRecorder, EventStore, Mapper


class EventSource(Protocol):
    """The log and the aggregates it rebuilds, read-only."""

    @property
    def repository(self) -> Repository[UUID]:
        """Aggregates at a version, rebuilt from their events."""
        ...

    @property
    def mapper(self) -> Mapper[UUID]:
        """Stored events ⇄ domain events (the stored format)."""
        ...

    @property
    def recorder(self) -> ApplicationRecorder:
        """The notification log (``select_notifications``, ``max_notification_id``)."""
        ...

    @property
    def events(self) -> EventStore[UUID]:
        """One aggregate's stored events."""
        ...
