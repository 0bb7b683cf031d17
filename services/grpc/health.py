"""The gRPC health service (``grpc.health.v1``) of a background process — ``lienthong
ingest-worker``, ``relay``, ``reminders``, ``checkpointer`` — and nothing else on its
port. (``lienthong serve`` answers health on its own API port: :mod:`services.grpc.server`.)

Setting: ``LIENTHONG_HEALTH_ADDRESS`` — ``HOST:PORT``, ``PORT`` a base to which each
command adds its own offset, the same as the metrics' (:data:`services.metrics.PORT_OFFSETS`:
ingest-worker +1, relay +2, checkpointer +3, reminders +4), so the children of
``lienthong run`` never share a port; port 0: each picks a free port and logs it.
Unset (the default) or ``off``: no health service.

Secure as the API server is: mutual TLS with the server's certificate and key
(``LIENTHONG_TLS_CERT`` / ``LIENTHONG_TLS_KEY``) and the trust anchors
(``LIENTHONG_TRUST_ANCHORS``) — a caller shows a certificate one of them issued —, or
plaintext only with ``LIENTHONG_GRPC_PLAINTEXT=1`` on a loopback address
(:meth:`services.grpc.server.ServerSettings.credentials`, the one place of those rules).

It answers for ``""`` (the whole process) what ``serving()`` says, asked every
:data:`POLL_SECONDS`: SERVING or NOT_SERVING (``services.kafka.vitals`` says when).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.grpc.server import ServerSettings, bind
from services.metrics import PORT_OFFSETS
from services.store.database import ConfigurationError

ADDRESS_ENV = "LIENTHONG_HEALTH_ADDRESS"
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 1.0
WHOLE = ""  # the service name of the whole process
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthSettings:
    base: tuple[str, int] | None = None  # (host, base port); None: no health service

    @classmethod
    def from_env(cls) -> HealthSettings:
        value = os.environ.get(ADDRESS_ENV, "").strip()
        if not value or value.lower() == "off":
            return cls()
        host, _, port = value.rpartition(":")
        top = 65535 - max(PORT_OFFSETS.values())
        if not host or not port.isdigit() or int(port) > top:
            msg = f"{ADDRESS_ENV} is {value!r}: HOST:PORT (the base port, at most {top}) or off"
            raise ConfigurationError(msg)
        return cls((host, int(port)))

    def address(self, process: str) -> str | None:
        """Where ``process`` serves its health (None: nowhere)."""
        if self.base is None:
            return None
        host, port = self.base
        return f"{host}:{port + PORT_OFFSETS[process] if port else 0}"


@dataclass
class HealthServer:
    server: Any  # grpc.Server
    port: int
    servicer: health.HealthServicer
    stopping: threading.Event
    polling: threading.Thread

    def stop(self) -> None:
        """NOT_SERVING to whoever watches, then the server stops."""
        self.stopping.set()
        self.servicer.enter_graceful_shutdown()
        self.server.stop(STOP_GRACE_SECONDS).wait()
        self.polling.join()


def status_of(serving: bool) -> Any:
    response = health_pb2.HealthCheckResponse
    return response.SERVING if serving else response.NOT_SERVING


def poll(
    servicer: health.HealthServicer, serving: Callable[[], bool], stopping: threading.Event
) -> None:
    """Set the whole process's status from ``serving()`` until ``stopping``; a change is
    logged."""
    last: bool | None = None
    while not stopping.is_set():
        try:
            now = serving()
        except Exception:
            log.exception("the process's health is unknown: not serving")
            now = False
        if now != last:
            servicer.set(WHOLE, status_of(now))
            if last is not None:
                log.warning("health: %s", "SERVING" if now else "NOT_SERVING")
            last = now
        stopping.wait(POLL_SECONDS)


def start_health(
    process: str, serving: Callable[[], bool], settings: HealthSettings | None = None
) -> HealthServer | None:
    """Serve ``process``'s health where ``LIENTHONG_HEALTH_ADDRESS`` says, in threads of
    its own; None when it says nowhere. A bad setting, a missing certificate or plaintext
    off loopback is a :class:`ConfigurationError` (before anything is served)."""
    address = (settings or HealthSettings.from_env()).address(process)
    if address is None:
        return None
    credentials = dataclasses.replace(ServerSettings.from_env(), address=address).credentials()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health"),
        options=[("grpc.so_reuseport", 0)],  # a port another process holds is refused
    )
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = bind(server, address, credentials, serving="health", hint=f"set {ADDRESS_ENV}")
    servicer.set(WHOLE, health_pb2.HealthCheckResponse.NOT_SERVING)  # until polled
    server.start()
    stopping = threading.Event()
    polling = threading.Thread(
        target=poll, args=(servicer, serving, stopping), name="health", daemon=True
    )
    polling.start()
    host = address.rsplit(":", 1)[0]
    log.info("gRPC health of %s on %s:%d", process, host, port, extra={"command": process})
    return HealthServer(server, port, servicer, stopping, polling)
