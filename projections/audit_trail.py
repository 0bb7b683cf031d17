"""The audit trail view: every recorded event — accepted reports, reviews, and the
receipts of every accepted and rejected submission — with actor, occurred-at,
recorded-at, source and body; late reports (``late``, ``delay_seconds``: recorded more
than a week after the moment they are about, :func:`domain.timing.lateness`) and
corrections (pointing at what they correct) are visible as such."""

from __future__ import annotations

from typing import Any

from projections.engine.audit_log import AuditLog
from projections.engine.rows import Row, json_safe_copy
from projections.engine.source import EventSource


def key_of(position: int) -> str:
    """Rows in log order."""
    return f"{position:012d}"


class AuditTrailView:
    name = "audit_trail"
    apart = True  # a rebuild of every view may build it in a process of its own

    def __init__(self, app: EventSource) -> None:
        self.log = AuditLog(app)
        self.pending: dict[str, Row | None] = {}

    def flush(self) -> dict[str, Row | None]:
        changes, self.pending = self.pending, {}
        return changes

    def apply(self, position: int, event: Any, /) -> None:
        record = self.log.record(position, event)
        body = record["body"]
        record["corrects"] = body.get("report_version") or body.get("measurement_version")
        row = json_safe_copy(record)
        self.pending[key_of(position)] = row
