"""Aggregates replayed from their own events, for views built on the domain's state.

A runner that resumes mid-log meets aggregates it has not replayed yet: those are
loaded from the store at the version before the event met, then the event applies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.app import Lienthong


class Replay:
    def __init__(self, app: Lienthong) -> None:
        self.app = app
        self.aggregates: dict[UUID, Any] = {}

    def apply(self, event: Any) -> Any:
        """The aggregate after ``event``."""
        before = self.aggregates.get(event.originator_id)
        if before is None and event.originator_version > 1:
            before = self.app.repository.get(
                event.originator_id, version=event.originator_version - 1
            )
        after = event.mutate(before)
        self.aggregates[event.originator_id] = after
        return after
