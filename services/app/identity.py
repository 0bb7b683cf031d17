"""Who signed it: certificates, trust anchors, signing keys on record, signatures.

An identity is an X.509 certificate issued by one of the configured trust anchors
(the real deployment's government CA; a throwaway CA made by ``lienthong pki init``
for the demo and the tests). Its subject names the identity (CN: an agency id of the
registry, or an auditor's or operator's name) and its role (OU: one of
:class:`~domain.keys.Role`). The same certificate serves for mutual TLS and, once
registered as a :class:`~domain.keys.SigningKey`, for signing envelopes and review
requests.

A signature covers the *canonical bytes* of a message: its deterministic protobuf
serialisation with the ``signature`` field cleared. Ed25519 signs them as they are;
ECDSA P-256 signs their SHA-256 (DER-encoded signature). A key's id is the hex
SHA-256 of its certificate's DER.

Settings: ``LIENTHONG_TRUST_ANCHORS`` — a PEM file of the authorities whose
certificates are trusted (default ``$LIENTHONG_PKI_DIR/ca.pem``; ``LIENTHONG_PKI_DIR``
defaults to ``.lienthong/pki``).

Certificates are issued directly by an anchor (no intermediates: give an
intermediate authority as an anchor of its own).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from domain.errors import InvalidValueError
from domain.keys import (
    CertificateExpiredError,
    CertificateUntrustedError,
    KeyAlreadyRegisteredError,
    KeyUnknownError,
    Role,
    SignatureInvalidError,
    SignatureMissingError,
    SigningKey,
    signing_key_id,
)
from services.app.ledger import Actor, Cache, Ledger
from services.store.database import ConfigurationError

PKI_DIR_ENV = "LIENTHONG_PKI_DIR"
TRUST_ANCHORS_ENV = "LIENTHONG_TRUST_ANCHORS"
DEFAULT_PKI_DIR = Path(".lienthong/pki")
ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256)
PublicKey = CertificatePublicKeyTypes


def pki_dir() -> Path:
    return Path(os.environ.get(PKI_DIR_ENV, "").strip() or DEFAULT_PKI_DIR)


def anchors_file() -> Path:
    named = os.environ.get(TRUST_ANCHORS_ENV, "").strip()
    return Path(named) if named else pki_dir() / "ca.pem"


@dataclass(frozen=True)
class Signed:
    """A signature as received: over ``payload`` (the canonical bytes), by the key
    ``key_id``, optionally with the signer's certificate (DER)."""

    key_id: str
    algorithm: str
    signature: bytes
    payload: bytes
    certificate: bytes = b""


@dataclass(frozen=True)
class Identity:
    """Who a certificate names."""

    name: str
    role: Role

    def __str__(self) -> str:
        return f"{self.role.value}:{self.name}"


def key_id_of(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def algorithm_of(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return ECDSA_P256
    msg = "the certificate's key is neither Ed25519 nor ECDSA P-256"
    raise InvalidValueError(msg, field="certificate")


def identity_of(certificate: x509.Certificate) -> Identity:
    """The name (CN) and role (OU) a certificate states."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(names) != 1 or len(units) != 1:
        msg = "the certificate's subject must hold one CN (who) and one OU (the role)"
        raise InvalidValueError(msg, field="certificate")
    roles = [r.value for r in Role]
    if units[0].value not in roles:
        msg = f"the certificate's role (OU) must be one of {', '.join(roles)}"
        raise InvalidValueError(msg, field="certificate")
    return Identity(str(names[0].value), Role(str(units[0].value)))


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:
        raise InvalidValueError(f"not an X.509 certificate: {error}", field="certificate") from None


@functools.lru_cache(maxsize=4096)
def recorded_certificate(pem: str) -> x509.Certificate:
    """A certificate as recorded (PEM), parsed once per process."""
    return load_certificate(pem.encode())


@functools.lru_cache(maxsize=4096)
def recorded_validity(pem: str) -> tuple[dt.datetime, dt.datetime]:
    """When a recorded certificate is valid: from, until (exclusive)."""
    certificate = recorded_certificate(pem)
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc


@functools.lru_cache(maxsize=4096)
def recorded_public_key(pem: str) -> PublicKey:
    """A recorded certificate's public key, parsed once per process."""
    return recorded_certificate(pem).public_key()


def pem_of(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class TrustAnchors:
    """The authorities whose certificates are trusted. The certificates found issued
    by one of them are remembered (checking a certificate's signature costs more than
    checking an envelope's, and the same few certificates sign everything); their
    validity window is checked every time."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self.anchors = list(anchors)
        self.issued: set[tuple[bytes, bytes]] = set()
        self.issued_pems: set[str] = set()  # certificates on record, as recorded

    @classmethod
    def load(cls, path: Path | None = None) -> TrustAnchors:
        path = path or anchors_file()
        try:
            anchors = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as error:
            msg = (
                f"no trust anchors in {path} ({error}): set {TRUST_ANCHORS_ENV}, or run "
                "`lienthong pki init` for a throwaway authority"
            )
            raise ConfigurationError(msg) from None
        return cls(anchors)

    def pem(self) -> bytes:
        return b"".join(a.public_bytes(serialization.Encoding.PEM) for a in self.anchors)

    def check(self, certificate: x509.Certificate, at: dt.datetime) -> None:
        """Refuse a certificate no anchor issued, or that is not valid at ``at``."""
        seen = (certificate.tbs_certificate_bytes, certificate.signature)
        if seen not in self.issued:
            self._check_issuer(certificate)
            self.issued.add(seen)
        if not certificate.not_valid_before_utc <= at < certificate.not_valid_after_utc:
            msg = (
                f"the certificate of {certificate.subject.rfc4514_string()} is valid from "
                f"{certificate.not_valid_before_utc.isoformat()} to "
                f"{certificate.not_valid_after_utc.isoformat()}, not at {at.isoformat()}"
            )
            raise CertificateExpiredError(msg, field="certificate")

    def check_recorded(self, pem: str, at: dt.datetime) -> x509.Certificate:
        """:meth:`check` for a certificate on record (PEM), returned parsed: what was
        found for it is remembered by its text (an anchor issued it), its validity
        window checked every time."""
        certificate = recorded_certificate(pem)
        if pem not in self.issued_pems:
            self.check(certificate, at)
            self.issued_pems.add(pem)
            return certificate
        not_before, not_after = recorded_validity(pem)
        if not not_before <= at < not_after:
            self.check(certificate, at)  # refuses it, saying why
        return certificate

    def _check_issuer(self, certificate: x509.Certificate) -> None:
        for anchor in self.anchors:
            if anchor.subject != certificate.issuer:
                continue
            try:
                certificate.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return
        who = certificate.subject.rfc4514_string()
        msg = f"the certificate of {who} was not issued by a trusted authority"
        raise CertificateUntrustedError(msg, field="certificate")


def verify_signature(
    certificate: x509.Certificate,
    signed: Signed,
    key: PublicKey | None = None,
    holds: bool | None = None,
) -> None:
    """Refuse a signature the certificate's key (``key``, when parsed already) did not
    make over the payload. ``holds``: whether it does, found already by the same check
    of the same key elsewhere (:mod:`services.kafka.signatures`); None: check here."""
    key = certificate.public_key() if key is None else key
    ed25519_key = signed.algorithm == ED25519 and isinstance(key, ed25519.Ed25519PublicKey)
    ecdsa_key = signed.algorithm == ECDSA_P256 and isinstance(key, ec.EllipticCurvePublicKey)
    if not (ed25519_key or ecdsa_key):
        msg = f"algorithm {signed.algorithm!r} is not the key's ({algorithm_of(certificate)})"
        raise SignatureInvalidError(msg, field="signature.algorithm")
    if holds is None:
        holds = _holds(key, signed)
    if not holds:
        raise SignatureInvalidError(
            f"the signature does not verify with key {signed.key_id[:16]}…",
            field="signature.signature",
        )


def _holds(key: PublicKey, signed: Signed) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signed.signature, signed.payload)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signed.signature, signed.payload, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


# Keys on record ---------------------------------------------------------------------


def registered_key(app: Ledger, key_id: str, cache: Cache | None = None) -> SigningKey | None:
    aggregate_id = signing_key_id(key_id)
    if cache is not None and aggregate_id in cache:
        key = cache[aggregate_id]
        return key if isinstance(key, SigningKey) else None
    if not app.exists(aggregate_id):
        return None
    return app.load(aggregate_id, SigningKey, f"key {key_id}", "signature.key_id", cache=cache)


def register_key(
    app: Ledger, certificate_bytes: bytes, anchors: TrustAnchors, operator: Actor
) -> SigningKey:
    """Record a certificate as the signing key of the agency it names, authorised by
    ``operator``. It must come from a trusted authority, be valid now, and name a
    registered agency that may act (no collective) in a role that speaks for one."""
    certificate = load_certificate(certificate_bytes)
    ctx = app.context(operator)
    anchors.check(certificate, ctx.recorded_at)
    who = identity_of(certificate)
    if not who.role.speaks_for_an_agency:
        msg = f"a {who.role.value} does not sign in an agency's name"
        raise InvalidValueError(msg, field="certificate")
    app.agency(who.name).require_may_act()
    key_id = key_id_of(certificate)
    if app.exists(signing_key_id(key_id)):
        raise KeyAlreadyRegisteredError(f"key {key_id} is registered", field="certificate")
    key = SigningKey.register(
        ctx,
        key_id=key_id,
        agency=who.name,
        role=who.role,
        algorithm=algorithm_of(certificate),
        certificate=pem_of(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )
    app.save(key)
    return key


def revoke_key(app: Ledger, key_id: str, reason: str, operator: Actor) -> SigningKey:
    key = registered_key(app, key_id)
    if key is None:
        raise KeyUnknownError(f"no key {key_id} is registered", field="key_id")
    key.revoke(app.context(operator), reason=reason)
    app.save(key)
    return key


def check_signed(  # noqa: PLR0917 - who, what, against what, when
    app: Ledger,
    agency: str,
    signed: Signed | None,
    anchors: TrustAnchors,
    at: dt.datetime,
    cache: Cache | None = None,
    holds: bool | None = None,
) -> SigningKey:
    """The key that signed a message in ``agency``'s name, checked at ``at``; a
    refusal (its specific code) otherwise. ``holds``: whether the signature holds for
    the key its id names, when found already (see :func:`verify_signature`)."""
    if signed is None or not signed.signature:
        raise SignatureMissingError("the message is not signed", field="signature")
    key = registered_key(app, signed.key_id, cache) if len(signed.key_id) == 64 else None  # noqa: PLR2004
    if key is None:
        if signed.certificate:
            anchors.check(load_certificate(signed.certificate), at)
        msg = f"no key {signed.key_id[:64]!r} is registered"
        raise KeyUnknownError(msg, field="signature.key_id")
    key.require_usable(agency, at)
    certificate = anchors.check_recorded(key.certificate, at)
    verify_signature(certificate, signed, recorded_public_key(key.certificate), holds)
    return key
