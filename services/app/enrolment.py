"""Enrolling a PKI folder's agencies: register the certificate of every agency that has
one in the folder (``lienthong pki init``'s layout) and is not registered yet — what
``lienthong keys enrol`` and the demo do on first run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import DomainError
from domain.keys import Role, SigningKey
from services.app.identity import (
    TrustAnchors,
    key_id_of,
    load_certificate,
    register_key,
    registered_key,
)
from services.app.ledger import Actor, Ledger
from services.app.pki import identity_files


@dataclass
class Enrolment:
    """What enrolling a folder did: the keys registered, and why others were not."""

    registered: list[SigningKey] = field(default_factory=list)
    already: int = 0  # certificates registered before
    problems: list[str] = field(default_factory=list)


def enrol_folder(
    app: Ledger, folder: Path, roles: dict[str, Role], anchors: TrustAnchors, operator: Actor
) -> Enrolment:
    """Register, as authorised by ``operator``, the certificate of every agency of
    ``roles`` found in ``folder`` that is not registered yet (idempotent)."""
    done = Enrolment()
    for name, role in sorted(roles.items()):
        path = identity_files(folder, name, role).certificate
        if not path.exists():
            done.problems.append(f"{name}: no certificate at {path}")
            continue
        data = path.read_bytes()
        if registered_key(app, key_id_of(load_certificate(data))) is not None:
            done.already += 1
            continue
        try:
            done.registered.append(register_key(app, data, anchors, operator))
        except DomainError as error:
            done.problems.append(f"{name}: {error.code}: {error.message}")
    return done
