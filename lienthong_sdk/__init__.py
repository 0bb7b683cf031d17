"""Python client SDK for Lienthong agency systems and the coordination office.

>>> from lienthong_sdk import AgencyClient, Evidence, Identity
>>> from lienthong_sdk import envelopes  # builders of AgencyEventEnvelope messages

Every client calls over mutual TLS with an :class:`Identity` (the agency's
certificate and key, and the authority's certificate) and signs what it sends::

    identity = Identity.from_files("health-post.pem", "health-post.key", "ca.pem")
    client = AgencyClient("host:50051", "phuoc-binh.health-post", identity=identity)
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
from lienthong_sdk.verdicts import PlanFileWarning

__all__ = [
    "AgencyClient",
    "AmendmentVerdict",
    "CoordinationClient",
    "Evidence",
    "Identity",
    "LienthongError",
    "PlanFileWarning",
    "Signer",
    "Verdict",
    "canonical_bytes",
]
