"""A throwaway certificate authority for the demo, the tests and a first look.

``lienthong pki init`` makes, in ``$LIENTHONG_PKI_DIR`` (default ``.lienthong/pki``):

- ``ca.pem`` / ``ca.key`` — the authority (ECDSA P-256), the trust anchor;
- ``server.pem`` / ``server.key`` — the gRPC server (localhost, 127.0.0.1, ::1);
- ``<role>/<name>.pem`` / ``.key`` — one identity each: every agency of the registry
  that may act (role ``agency``; ``office`` for a plan's coordinator,
  ``steering-committee`` for its steering committee), and ``auditor/auditor`` and
  ``operator/operator``.

Keys are ECDSA P-256 (what TLS and every gRPC client take); Ed25519 signing keys
are accepted as well (see :mod:`services.app.identity`). Private keys are written
readable by their owner only. A real deployment uses its own authority's
certificates instead (``docs/operations.md``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from domain.keys import Role

ORGANISATION = "Lienthong (throwaway authority)"
CA_DAYS = 3650
IDENTITY_DAYS = 825
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Issued:
    """An identity's certificate and private key, as files."""

    certificate: Path
    key: Path


def _name(common: str, unit: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)]
    if unit is not None:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(parts)


def _write_key(path: Path, key: PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        msg = f"{path} holds neither an ECDSA nor an Ed25519 key"
        raise TypeError(msg)
    return key


class Authority:
    """A certificate authority: its certificate and key."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self.key = key

    @classmethod
    def create(
        cls, name: str = "Lienthong throwaway CA", now: dt.datetime | None = None
    ) -> Authority:
        now = now or dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @classmethod
    def load(cls, folder: Path) -> Authority:
        certificate = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        key = load_private_key(folder / "ca.key")
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            msg = f"{folder / 'ca.key'} is not an ECDSA key"
            raise TypeError(msg)
        return cls(certificate, key)

    def save(self, folder: Path) -> None:
        _write_certificate(folder / "ca.pem", self.certificate)
        _write_key(folder / "ca.key", self.key)

    def issue(
        self,
        name: str,
        role: Role | None,
        *,
        key: PrivateKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        hosts: Iterable[str] = (),
    ) -> tuple[x509.Certificate, PrivateKey]:
        """A certificate for ``name`` in ``role`` (None: a server, named by ``hosts``)."""
        now = dt.datetime.now(dt.UTC)
        key = key or ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if role is None else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name, None if role is None else role.value))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(days=IDENTITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def issue_files(self, folder: Path, name: str, role: Role) -> Issued:
        certificate, key = self.issue(name, role)
        issued = Issued(folder / role.value / f"{name}.pem", folder / role.value / f"{name}.key")
        _write_certificate(issued.certificate, certificate)
        _write_key(issued.key, key)
        return issued


def identity_files(folder: Path, name: str, role: Role) -> Issued:
    return Issued(folder / role.value / f"{name}.pem", folder / role.value / f"{name}.key")


def roles_of(registry: Path, plans: Iterable[Path]) -> dict[str, Role]:
    """Every agency of the registry that may act, with the role the throwaway
    authority gives it: ``office`` for a plan's coordinator, ``steering-committee``
    for its steering committee, else ``agency``."""
    agencies = yaml.safe_load(registry.read_text(encoding="utf-8"))["agencies"]
    roles = {a["id"]: Role.AGENCY for a in agencies if a.get("kind") != "collective"}
    for path in plans:
        plan = yaml.safe_load(path.read_text(encoding="utf-8")).get("plan", {})
        for field, role in (
            ("coordinator", Role.OFFICE),
            ("steering_committee", Role.STEERING_COMMITTEE),
        ):
            if plan.get(field) in roles:
                roles[plan[field]] = role
    return roles


def init_pki(folder: Path, roles: dict[str, Role]) -> bool:
    """Make the throwaway authority and every identity in ``folder``; False (and
    nothing changed) when it is there already."""
    if (folder / "ca.pem").exists():
        return False
    authority = Authority.create()
    server, server_key = authority.issue(
        "lienthong-server", None, hosts=("localhost", "127.0.0.1", "::1")
    )
    _write_certificate(folder / "server.pem", server)
    _write_key(folder / "server.key", server_key)
    for name, role in sorted(roles.items()):
        authority.issue_files(folder, name, role)
    authority.issue_files(folder, "auditor", Role.AUDITOR)
    authority.issue_files(folder, "operator", Role.OPERATOR)
    authority.save(folder)  # last: its presence says the folder is complete
    return True
