"""Identities for the benchmarks: a throwaway authority, a certificate and key for every
agency of a synthetic world that may act (the role the demo's authority gives it:
``office`` for a plan's coordinator, ``steering-committee`` for its steering
committee, else ``agency``), their keys registered in a store as an operator would
(``operator:bench``), and envelopes signed by the agency they name.

Signing happens where the dataset is generated, before anything is timed: it is the
agency's cost, not the ingest's (B6 measures it, and the check, per envelope).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from lienthong.v1 import envelope_pb2

from bench.dataset import World
from domain.keys import Role, SigningKey
from lienthong_sdk.identity import Signer
from services.app.identity import algorithm_of, key_id_of, pem_of
from services.app.ledger import Actor, Ledger
from services.app.pki import Authority
from services.store.recorder import insert_events

OPERATOR = Actor(agency="operator:bench", channel="cli")


def roles_of_world(world: World) -> dict[str, Role]:
    """Every agency of ``world`` that may act, with its role."""
    roles = {
        name: Role.AGENCY
        for name, record in world.registry(range(world.wards)).agencies.items()
        if record.get("kind") != "collective"
    }
    for index in range(world.wards):
        header = world.plan_file(index).header
        for field, role in (
            ("coordinator", Role.OFFICE),
            ("steering_committee", Role.STEERING_COMMITTEE),
        ):
            if header.get(field) in roles:
                roles[header[field]] = role
    return roles


class Keyring:
    """One authority and a signer per agency; the authority's certificate in
    ``folder/ca.pem`` (the trust anchor to give the server or the worker)."""

    def __init__(self, roles: dict[str, Role], folder: Path) -> None:
        self.authority = Authority.create("Lienthong bench CA")
        self.authority.save(folder)
        self.anchors = folder / "ca.pem"
        self.roles = roles
        self.signers: dict[str, Signer] = {}
        self.certificates: dict[str, x509.Certificate] = {}
        for name, role in sorted(roles.items()):
            certificate, key = self.authority.issue(name, role)
            self.certificates[name] = certificate
            self.signers[name] = Signer(certificate, key)

    def sign(self, envelope: envelope_pb2.AgencyEventEnvelope) -> None:
        """Sign ``envelope`` (in place) by the agency it names; one that names no
        agency that may act stays unsigned (as a bad submission would be)."""
        signer = self.signers.get(envelope.agency_id)
        if signer is not None:
            signer.sign(envelope)

    def register(self, app: Ledger, names: Iterable[str] | None = None, chunk: int = 500) -> int:
        """Record every agency's key in ``app``'s store (``chunk`` per transaction),
        as ``lienthong keys register`` would; returns how many."""
        ctx = app.context(OPERATOR)
        wanted = sorted(self.signers if names is None else names)
        for start in range(0, len(wanted), chunk):
            events: list[Any] = []
            for name in wanted[start : start + chunk]:
                certificate = self.certificates[name]
                key = SigningKey.register(
                    ctx,
                    key_id=key_id_of(certificate),
                    agency=name,
                    role=self.roles[name],
                    algorithm=algorithm_of(certificate),
                    certificate=pem_of(certificate),
                    not_before=certificate.not_valid_before_utc,
                    not_after=certificate.not_valid_after_utc,
                )
                events.extend(key.collect_events())
            insert_events(app.recorder, [app.mapper.to_stored_event(e) for e in events])
        return len(wanted)
