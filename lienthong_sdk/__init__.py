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
from lienthong_sdk.evidence import Evidence
from lienthong_sdk.identity import Identity, Signer, canonical_bytes

__all__ = [
    "AgencyClient",
    "AmendmentVerdict",
    "CoordinationClient",
    "Evidence",
    "Identity",
    "LienthongError",
    "Signer",
    "Verdict",
    "canonical_bytes",
]
