"""Who is calling: the identity of the current call, from its TLS client certificate.

The server's authentication (``services.grpc.server``) sets :data:`CALLER` for each
call before its method runs; the methods read it with :func:`current_caller`. None
means an anonymous call (plaintext, allowed only in development on loopback), which
may only read.
"""

from __future__ import annotations

from contextvars import ContextVar

from services.app.identity import Identity

CALLER: ContextVar[Identity | None] = ContextVar("lienthong_caller", default=None)


def current_caller() -> Identity | None:
    return CALLER.get()
