"""Python client SDK for Lienthong agency systems and the coordination office.

>>> from lienthong_sdk import AgencyClient, Evidence
>>> from lienthong_sdk import envelopes  # builders of AgencyEventEnvelope messages
"""

from __future__ import annotations

from lienthong_sdk.client import (
    AgencyClient,
    AmendmentVerdict,
    CoordinationClient,
    LienthongError,
    Verdict,
)
from lienthong_sdk.envelopes import canonical_bytes
from lienthong_sdk.evidence import Evidence

__all__ = [
    "AgencyClient",
    "AmendmentVerdict",
    "CoordinationClient",
    "Evidence",
    "LienthongError",
    "Verdict",
    "canonical_bytes",
]
