"""The clients of the Lienthong API, their verdicts and errors.

- :class:`AgencyClient` publishes an agency's events (IngestService).
- :class:`CoordinationClient` reviews, amends and queries (ReviewService, PlanService,
  AuditService).
- :class:`Verdict` is what became of a submission; :class:`LienthongError` a refusal
  that is not a verdict (an invalid request, an unknown plan, an unreachable server).
"""

from __future__ import annotations

from lienthong_sdk.agency import AgencyClient
from lienthong_sdk.coordination import CoordinationClient
from lienthong_sdk.verdicts import AmendmentVerdict, LienthongError, Outcome, Verdict

__all__ = [
    "AgencyClient",
    "AmendmentVerdict",
    "CoordinationClient",
    "LienthongError",
    "Outcome",
    "Verdict",
]
