"""The base of every Lienthong event, and the explicit topics they are stored under.

Every event is a past-tense fact with a stable topic (``lienthong.<aggregate>.<Fact>``)
and a ``class_version``; renaming a class never changes what is stored. Every event
carries its provenance: the acting agency (and person, if known), when it occurred
as the agency declares, when the system recorded it (the library's ``timestamp``,
passed in, never read from a clock here) and the source channel and message id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

T = TypeVar("T", bound=type)

TOPIC_PREFIX = "lienthong"


class Fact(Aggregate.Event):
    """Provenance common to every event."""

    class_version = 1

    actor: str
    person: str | None
    occurred_at: datetime
    channel: str
    message_id: str

    @property
    def recorded_at(self) -> datetime:
        """When the system recorded the event (the stored ``timestamp``)."""
        return self.timestamp

    def provenance(self) -> dict[str, Any]:
        """What an auditor reads of any fact: its topic and version, who, when, how."""
        return {
            "topic": get_topic(type(self)),
            "version": self.originator_version,
            "actor": self.actor,
            "person": self.person,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "channel": self.channel,
            "message_id": self.message_id,
        }


def topical(base: T, topic: str) -> T:
    """A concrete subclass of a shared event class, stored under ``topic``."""
    namespace: dict[str, Any] = {
        "TOPIC": f"{TOPIC_PREFIX}.{topic}",
        "__qualname__": base.__name__,
        "__module__": base.__module__,
    }
    return type(base.__name__, (base,), namespace)  # type: ignore[return-value]
