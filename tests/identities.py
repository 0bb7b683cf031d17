"""The tests' identities: one throwaway authority per test run, a certificate and key
for every agency of the registry that may act (and an auditor and an operator), each
agency's key registered in a store as an operator would, and signing as each agency.

The harness holds every agency's key, as the authority that issued them could: a
test acts as the agency its envelope or review request names.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message
from lienthong.v1 import envelope_pb2

from domain.keys import Role
from lienthong_sdk.identity import Identity, Signer
from services.app.identity import TrustAnchors, register_key
from services.app.ledger import Actor, Ledger
from services.app.pki import Authority, identity_files, init_pki, roles_of
from tests.conftest import PLANS, REGISTRY

# Made once per test run (a session-wide folder; the keys are throwaway).
FOLDER = Path(tempfile.mkdtemp(prefix="lienthong-test-pki-"))
ROLES = roles_of(REGISTRY, PLANS)
OPERATOR = Actor(agency="operator:tests", channel="cli")
M = TypeVar("M", bound=Message)
DEFAULT_AGENCY = "phuoc-binh.health-post"  # signs what names no agency that may act


@functools.cache
def folder() -> Path:
    init_pki(FOLDER, ROLES)
    return FOLDER


@functools.cache
def authority() -> Authority:
    return Authority.load(folder())


@functools.cache
def anchors() -> TrustAnchors:
    return TrustAnchors.load(folder() / "ca.pem")


def identity(name: str, role: Role | None = None) -> Identity:
    """The certificate and key of ``name`` (an agency id, "auditor" or "operator")."""
    role = role or ROLES.get(name) or Role(name)
    files = identity_files(folder(), name, role)
    return Identity.from_files(files.certificate, files.key, folder() / "ca.pem")


@functools.cache
def signer(agency: str) -> Signer:
    return identity(agency if agency in ROLES else DEFAULT_AGENCY).signer()


def enrol(app: Ledger) -> None:
    """Register every agency's key in ``app``'s store (as the operator "tests")."""
    for name in ROLES:
        files = identity_files(folder(), name, ROLES[name])
        register_key(app, files.certificate.read_bytes(), anchors(), OPERATOR)


def signed(message: M) -> M:
    """``message`` signed (in place) by the agency it names: an envelope's
    ``agency_id``, a review request's ``reviewer.agency_id``."""
    if isinstance(message, envelope_pb2.AgencyEventEnvelope):
        agency = message.agency_id
    else:
        agency = message.reviewer.agency_id  # type: ignore[attr-defined]
    return signer(agency).sign(message)
