"""Signing keys on record: who may sign in an agency's name, since when, until when.

An agency signs what it sends with a key whose X.509 certificate (issued by a trusted
authority, checked by the application) names the agency and its role. The key is
*registered* as an event — by an operator, who is recorded as having authorised it —
and later *revoked* the same way; rotating a key is registering the new one and
revoking the old. Nothing is ever deleted, so a signature checked years ago can be
checked again after rotation: the certificate stays in the log.

A key's id is the lowercase hex SHA-256 of its certificate (DER): it names one
certificate exactly. The domain keeps the certificate as text (PEM) and the facts
read from it; it parses nothing (see ``services.app.identity``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import DomainError, InvalidValueError
from domain.facts import Fact
from domain.ids import NAMESPACE

KEY_ID_LENGTH = 64


class Role(StrEnum):
    """What an identity may do, as its certificate says (its OU). The role matrix
    (``docs/roles.md``) says which methods and envelope kinds each may use; the
    domain rules then say on which items (the lead, the reviewer, the coordinator)."""

    AGENCY = "agency"  # an agency system: reports on its own items
    OFFICE = "office"  # a coordination office: reviews, deadlines, amendments
    STEERING_COMMITTEE = "steering-committee"  # Ban Chỉ đạo: reviews the office's items
    AUDITOR = "auditor"  # reads and replays, never writes
    OPERATOR = "operator"  # runs the servers; reads, health

    @property
    def speaks_for_an_agency(self) -> bool:
        """Whether the identity's name is an agency of the registry."""
        return self in {Role.AGENCY, Role.OFFICE, Role.STEERING_COMMITTEE}


class SignatureMissingError(DomainError):
    code = "SIGNATURE_MISSING"
    kind = "unauthenticated"


class SignatureInvalidError(DomainError):
    code = "SIGNATURE_INVALID"
    kind = "unauthenticated"


class KeyUnknownError(DomainError):
    code = "KEY_UNKNOWN"
    kind = "unauthenticated"


class KeyRevokedError(DomainError):
    code = "KEY_REVOKED"
    kind = "unauthenticated"


class KeyNotOfAgencyError(DomainError):
    code = "KEY_NOT_OF_AGENCY"
    kind = "forbidden"


class CertificateExpiredError(DomainError):
    code = "CERTIFICATE_EXPIRED"
    kind = "unauthenticated"


class CertificateUntrustedError(DomainError):
    code = "CERTIFICATE_UNTRUSTED"
    kind = "unauthenticated"


class KeyAlreadyRegisteredError(DomainError):
    code = "KEY_ALREADY_REGISTERED"
    kind = "conflict"


@lru_cache(maxsize=1 << 14)
def signing_key_id(key_id: str) -> UUID:
    """The aggregate id of the key ``key_id`` (remembered: every signed envelope asks,
    several times)."""
    return uuid5(NAMESPACE, f"signing-key:{key_id}")


def check_key_id(key_id: str) -> None:
    if len(key_id) != KEY_ID_LENGTH or any(c not in "0123456789abcdef" for c in key_id):
        msg = "a key id is the lowercase hex SHA-256 of the certificate (64 digits)"
        raise InvalidValueError(msg, field="key_id")


class SigningKey(Aggregate):
    """One registered certificate and its key."""

    TOPIC = "lienthong.SigningKey"

    def __init__(self) -> None:
        self.key_id = ""
        self.agency = ""
        self.role = Role.AGENCY
        self.algorithm = ""
        self.certificate = ""
        self.not_before: datetime | None = None
        self.not_after: datetime | None = None
        self.revoked_at: datetime | None = None
        self.revocation_reason = ""

    class Created(Aggregate.Created):
        TOPIC = "lienthong.signing_key.Created"

    class Registered(Created, Fact):
        """An operator registered a certificate as ``agency``'s key (the actor of the
        event is the operator who authorised it)."""

        TOPIC = "lienthong.signing_key.Registered"
        key_id: str
        agency: str
        role: str
        algorithm: str
        certificate: str  # PEM
        not_before: datetime
        not_after: datetime

        def apply(self, key: SigningKey) -> None:
            key.key_id = self.key_id
            key.agency = self.agency
            key.role = Role(self.role)
            key.algorithm = self.algorithm
            key.certificate = self.certificate
            key.not_before = self.not_before
            key.not_after = self.not_after

    class Revoked(Fact):
        """An operator revoked the key: nothing it signs from ``revoked_at`` on is
        accepted (what it signed before stays accepted and verifiable)."""

        TOPIC = "lienthong.signing_key.Revoked"
        reason: str

        def apply(self, key: SigningKey) -> None:
            key.revoked_at = self.timestamp
            key.revocation_reason = self.reason

    @classmethod
    def register(
        cls,
        ctx: Context,
        *,
        key_id: str,
        agency: str,
        role: Role,
        algorithm: str,
        certificate: str,
        not_before: datetime,
        not_after: datetime,
    ) -> SigningKey:
        check_key_id(key_id)
        if not agency:
            raise InvalidValueError("the certificate names no one", field="certificate")
        if not_after <= not_before:
            raise InvalidValueError("the certificate is never valid", field="certificate")
        if not_after <= ctx.recorded_at:
            msg = f"the certificate expired at {not_after.isoformat()}"
            raise CertificateExpiredError(msg, field="certificate")
        return cls._create(
            cls.Registered,
            id=signing_key_id(key_id),
            key_id=key_id,
            agency=agency,
            role=role.value,
            algorithm=algorithm,
            certificate=certificate,
            not_before=not_before,
            not_after=not_after,
            **ctx.event_fields(),
        )

    def revoke(self, ctx: Context, *, reason: str) -> None:
        if not reason.strip():
            raise InvalidValueError("a revocation needs a reason", field="reason")
        if self.revoked_at is not None:
            msg = f"key {self.key_id} was revoked at {self.revoked_at.isoformat()}"
            raise KeyRevokedError(msg, field="key_id")
        self.trigger_event(self.Revoked, reason=reason, **ctx.event_fields())

    def require_usable(self, agency: str, at: datetime) -> None:
        """Refuse a signature by this key, in ``agency``'s name, checked at ``at``."""
        if self.agency != agency:
            msg = f"key {self.key_id[:16]}… is {self.agency}'s, not {agency}'s"
            raise KeyNotOfAgencyError(msg, field="signature.key_id")
        if self.revoked_at is not None and self.revoked_at <= at:
            msg = (
                f"key {self.key_id[:16]}… was revoked at {self.revoked_at.isoformat()}: "
                f"{self.revocation_reason}"
            )
            raise KeyRevokedError(msg, field="signature.key_id")
        if self.not_after is not None and self.not_after <= at:
            msg = f"the certificate of key {self.key_id[:16]}… expired at {self.not_after:%Y-%m-%d}"
            raise CertificateExpiredError(msg, field="signature.key_id")
        if self.not_before is not None and at < self.not_before:
            msg = f"the certificate of key {self.key_id[:16]}… is valid from {self.not_before:%F}"
            raise CertificateExpiredError(msg, field="signature.key_id")


class AgencyNotCallerError(DomainError):
    """A caller (authenticated by its certificate) sent a message in another
    agency's name."""

    code = "AGENCY_NOT_CALLER"
    kind = "forbidden"


class RoleNotAllowedError(DomainError):
    """The signer's role (its certificate's) may not send this kind of message
    (``docs/roles.md``)."""

    code = "ROLE_NOT_ALLOWED"
    kind = "forbidden"
