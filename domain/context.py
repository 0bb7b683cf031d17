"""Who does something, when, and through which channel: passed to every command."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import InvalidValueError


@dataclass(frozen=True)
class Context:
    """The provenance of one command; every event it produces carries it.

    ``occurred_at`` is when the agency says it happened, ``recorded_at`` when the
    system recorded it. ``acting_as`` lists the collective units (e.g. "Các cơ
    quan, đơn vị") the agency belongs to, resolved by the application from the
    agency registry, so the domain can treat a member of a collective lead as a lead.
    """

    agency: str
    occurred_at: datetime
    recorded_at: datetime
    channel: str
    message_id: str
    person: str | None = None
    acting_as: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.agency:
            msg = "the acting agency is required"
            raise InvalidValueError(msg, field="agency")
        for name in ("occurred_at", "recorded_at"):
            if getattr(self, name).tzinfo is None:
                msg = f"{name} must carry a time zone"
                raise InvalidValueError(msg, field=name)

    def acts_for(self, units: Iterable[str]) -> bool:
        """True when the agency is one of ``units`` or a member of one of them."""
        unit_set = set(units)
        return self.agency in unit_set or bool(self.acting_as & unit_set)

    def event_fields(self) -> dict[str, Any]:
        """The provenance fields every event carries."""
        return {
            "actor": self.agency,
            "person": self.person,
            "occurred_at": self.occurred_at,
            "timestamp": self.recorded_at,
            "channel": self.channel,
            "message_id": self.message_id,
        }
