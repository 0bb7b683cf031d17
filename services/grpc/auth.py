"""Who is calling, whether they may, and whether they are calling too often: the one
place every Lienthong method passes through before it runs (:func:`services.grpc.errors.guarded`).

1. **Authentication.** Under mutual TLS the handshake already checked the client's
   certificate against the trust anchors; here its subject becomes an
   :class:`~services.app.identity.Identity` (CN: who, OU: the role). A subject whose
   role is none of :class:`~domain.keys.Role`, or whose name (for a role that speaks
   for an agency) is no agency of the registry, is refused UNAUTHENTICATED with
   IDENTITY_UNKNOWN; a registered collective is refused COLLECTIVE_CANNOT_ACT. A call
   without a certificate (plaintext, development only) is anonymous.
2. **Authorisation.** The role matrix (:mod:`services.wire.roles`): a method the
   caller's role may not call is refused PERMISSION_DENIED with ROLE_NOT_ALLOWED; an
   anonymous call to a method that needs an identity, UNAUTHENTICATED with
   CLIENT_CERTIFICATE_REQUIRED.
3. **Fair use.** A token bucket per identity (per peer host for anonymous calls):
   ``rate`` calls a second, bursts of ``burst``; over it, RESOURCE_EXHAUSTED with
   RATE_LIMITED and a ``RetryInfo`` saying when a call will be served again.

The identity is then the call's :data:`~services.grpc.callers.CALLER`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from domain.errors import DomainError
from domain.ids import agency_id
from services.app.identity import Identity, identity_of, load_certificate
from services.app.ledger import Ledger
from services.wire.roles import may_call

DEFAULT_RATE = 200.0
DEFAULT_BURST = 400.0


class CallRefusedError(Exception):
    """A call refused before its method ran: its status code, reason and message;
    ``retry_after`` (seconds) when it may succeed later."""

    def __init__(
        self, code: grpc.StatusCode, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


@functools.lru_cache(maxsize=1024)
def identity_of_pem(pem: bytes) -> Identity:
    """The identity a client certificate (PEM, as TLS handed it over) states."""
    try:
        return identity_of(load_certificate(pem))
    except DomainError as error:
        raise CallRefusedError(
            grpc.StatusCode.UNAUTHENTICATED, "IDENTITY_UNKNOWN", error.message
        ) from None


def peer_certificate(context: Any) -> bytes | None:
    """The client certificate (PEM) of a call over mutual TLS; None when plaintext."""
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    return bytes(pems[0]) if pems else None


@dataclass
class Bucket:
    tokens: float
    last: float


@dataclass
class RateLimiter:
    """A token bucket per key: ``rate`` a second, up to ``burst``."""

    rate: float = DEFAULT_RATE
    burst: float = DEFAULT_BURST
    clock: Any = time.monotonic
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 when a call of ``key`` may go now (and counts it), else the seconds until
        it may."""
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.last) * self.rate)
        bucket.last = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate if self.rate > 0 else 60.0


class Gate:
    """Authenticates, authorises and rate-limits each call (see the module)."""

    def __init__(self, app: Ledger, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter or RateLimiter()
        self.known: set[str] = set()  # agencies found in the registry (never removed)

    async def admit(self, context: Any, method: str) -> Identity | None:
        """The caller of ``method`` ("lienthong.v1.Service/Method"), admitted; raises
        :class:`CallRefusedError` (or a domain refusal) otherwise."""
        pem = peer_certificate(context)
        caller = identity_of_pem(pem) if pem is not None else None
        if caller is None:
            if not may_call(None, method):
                raise CallRefusedError(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "CLIENT_CERTIFICATE_REQUIRED",
                    f"{method} needs a client certificate (mutual TLS)",
                )
        elif not may_call(caller.role, method):
            raise CallRefusedError(
                grpc.StatusCode.PERMISSION_DENIED,
                "ROLE_NOT_ALLOWED",
                f"{caller} may not call {method} (see docs/roles.md)",
            )
        key = str(caller) if caller is not None else f"anonymous:{host_of(context.peer())}"
        wait = self.limiter.take(key)
        if wait:
            raise CallRefusedError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "RATE_LIMITED",
                f"{key} calls more often than {self.limiter.rate:g} a second",
                retry_after=wait,
            )
        if caller is not None and caller.role.speaks_for_an_agency:
            await self.require_registered(caller)
        return caller

    async def require_registered(self, caller: Identity) -> None:
        if caller.name in self.known:
            return
        if not await asyncio.to_thread(self.app.exists, agency_id(caller.name)):
            raise CallRefusedError(
                grpc.StatusCode.UNAUTHENTICATED,
                "IDENTITY_UNKNOWN",
                f"{caller.name} is no agency of the registry",
            )
        agency = await asyncio.to_thread(self.app.agency, caller.name)
        agency.require_may_act()
        self.known.add(caller.name)


def host_of(peer: str) -> str:
    """The host of a gRPC peer string ("ipv4:127.0.0.1:5555", "ipv6:[::1]:5555")."""
    address = peer.split(":", 1)[-1]
    return address.rsplit(":", 1)[0] if ":" in address else address
