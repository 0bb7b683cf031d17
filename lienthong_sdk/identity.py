"""An agency's identity: its certificate and key, for mutual TLS and for signing.

Every call to Lienthong goes over TLS with the caller's client certificate, and every
envelope and review request is signed with a key registered to the agency it names
(see the README: "How an agency gets its certificate and key")::

    identity = Identity.from_files("police.pem", "police.key", "ca.pem")
    with AgencyClient("lienthong.example:50051", "phuoc-binh.police", identity=identity) as c:
        c.report_progress(...)

A signature covers the message's canonical bytes (:func:`canonical_bytes`): its
deterministic serialisation with ``signature`` unset. Ed25519 keys sign them as they
are; ECDSA P-256 keys sign their SHA-256 (``ecdsa-p256-sha256``, DER signature).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf.message import Message
from lienthong.v1 import envelope_pb2

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
M = TypeVar("M", bound=Message)


def canonical_bytes(message: Message) -> bytes:
    """The bytes a signature covers: ``message`` (an envelope or a review request),
    deterministically serialised, with ``signature`` unset. ``message`` is unchanged."""
    unsigned = type(message)()
    unsigned.CopyFrom(message)
    unsigned.ClearField("signature")
    return unsigned.SerializeToString(deterministic=True)


@dataclass(frozen=True)
class Identity:
    """A certificate, its private key (PEM) and the authority that issued the
    server's certificate (PEM): what a client needs to call and to sign."""

    certificate: bytes
    key: bytes
    authority: bytes

    @classmethod
    def from_files(
        cls, certificate: str | Path, key: str | Path, authority: str | Path
    ) -> Identity:
        return cls(
            Path(certificate).read_bytes(), Path(key).read_bytes(), Path(authority).read_bytes()
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.authority,
            private_key=self.key,
            certificate_chain=self.certificate,
        )

    def secure_channel(
        self, target: str, options: list[tuple[str, object]] | None = None
    ) -> grpc.Channel:
        return grpc.secure_channel(target, self.channel_credentials(), options=options)

    def signer(self) -> Signer:
        return Signer.of(self.certificate, self.key)


class Signer:
    """Signs messages with one key, naming it by its certificate's fingerprint."""

    def __init__(
        self,
        certificate: x509.Certificate,
        key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    ) -> None:
        self.der = certificate.public_bytes(serialization.Encoding.DER)
        self.key_id = hashlib.sha256(self.der).hexdigest()
        self.key = key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = ED25519
        elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            self.algorithm = ECDSA_P256
        else:
            raise TypeError("a signing key is Ed25519 or ECDSA P-256")

    @classmethod
    def of(cls, certificate_pem: bytes, key_pem: bytes) -> Signer:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise TypeError("a signing key is Ed25519 or ECDSA P-256")
        return cls(x509.load_pem_x509_certificate(certificate_pem), key)

    def signature_of(self, payload: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(payload)
        return self.key.sign(payload, ec.ECDSA(hashes.SHA256()))

    def sign(self, message: M, *, with_certificate: bool = True) -> M:
        """``message`` with its ``signature`` set (in place; returned for chaining)."""
        signature = envelope_pb2.Signature(
            key_id=self.key_id,
            algorithm=self.algorithm,
            signature=self.signature_of(canonical_bytes(message)),
            certificate=self.der if with_certificate else b"",
        )
        message.signature.CopyFrom(signature)  # type: ignore[attr-defined]
        return message
