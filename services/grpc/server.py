"""The gRPC server (grpc.aio): the five Lienthong services, health checking and
server reflection, message-size limits, graceful shutdown.

Settings (environment variables):

- ``LIENTHONG_GRPC_ADDRESS`` — where to listen (default ``127.0.0.1:50051``; port 0
  picks a free port);
- ``LIENTHONG_GRPC_MAX_MESSAGE_BYTES`` — the largest request or response (default 4 MiB);
- ``LIENTHONG_GRPC_GRACE_SECONDS`` — how long in-flight calls may finish on shutdown
  (default 10);
- ``LIENTHONG_AGENCIES`` — the agency registry used by ReviewService.AmendPlan
  (default ``data/agencies.yaml``).

In full mode the composition root (``services.cli``) hands the server a
``forwarding``: given the server's live views, it makes the ``forward`` that publishes
an envelope through Kafka and waits for its verdict (woken as the views follow the
log); without one, Publish applies envelopes in this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from lienthong.v1 import (
    audit_service_pb2,
    ingest_service_pb2,
    plan_service_pb2,
    review_service_pb2,
    watch_service_pb2,
)

from projections.engine.live import LiveViews
from projections.views import VIEWS
from services.app.ledger import Ledger
from services.grpc.audit import AuditServicer
from services.grpc.errors import guarded
from services.grpc.ingest import Forwarding, IngestServicer
from services.grpc.plans import PlanServicer
from services.grpc.reads import Reads
from services.grpc.review import ReviewServicer
from services.grpc.watch import WatchServicer
from services.store.database import ConfigurationError

log = logging.getLogger(__name__)
REPORTING: set[asyncio.Task[None]] = set()
SERVICES = [
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (ingest_service_pb2, "IngestService"),
        (plan_service_pb2, "PlanService"),
        (review_service_pb2, "ReviewService"),
        (audit_service_pb2, "AuditService"),
        (watch_service_pb2, "WatchService"),
    )
]


@dataclass(frozen=True)
class ServerSettings:
    address: str = "127.0.0.1:50051"
    max_message_bytes: int = 4 * 1024 * 1024
    grace_seconds: float = 10.0
    registry: Path = Path("data/agencies.yaml")
    # TLS (mutual): the server's certificate and key, and the authorities whose client
    # certificates it trusts; defaults in the PKI folder (services.app.identity).
    certificate: Path | None = None
    private_key: Path | None = None
    trust_anchors: Path | None = None
    # Plaintext, anonymous, read-only: development only, never on a non-loopback address.
    plaintext: bool = False

    @classmethod
    def from_env(cls) -> ServerSettings:
        defaults = cls()
        try:
            return cls(
                address=os.environ.get("LIENTHONG_GRPC_ADDRESS", defaults.address),
                max_message_bytes=int(
                    os.environ.get("LIENTHONG_GRPC_MAX_MESSAGE_BYTES", defaults.max_message_bytes)
                ),
                grace_seconds=float(
                    os.environ.get("LIENTHONG_GRPC_GRACE_SECONDS", defaults.grace_seconds)
                ),
                registry=Path(os.environ.get("LIENTHONG_AGENCIES", str(defaults.registry))),
            )
        except ValueError as error:
            raise ConfigurationError(
                f"a LIENTHONG_GRPC_* setting is not a number: {error}"
            ) from None


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    live: LiveViews

    async def stop(self, grace: float, interrupt: Callable[[], None] | None = None) -> None:
        """Let in-flight calls finish for ``grace`` seconds; then ``interrupt`` (when
        given) makes whatever still waits for the store fail, so nothing outlives it."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if interrupt is not None:
            interrupt()
        await asyncio.to_thread(self.live.stop)


def not_serving(health_servicer: health.aio.HealthServicer) -> None:
    """Health answers NOT_SERVING from now on (the views stopped; see the log)."""

    async def report() -> None:
        for name in ("", *SERVICES):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    task = asyncio.get_running_loop().create_task(report())
    REPORTING.add(task)  # held until done: the loop keeps only a weak reference
    task.add_done_callback(REPORTING.discard)


async def start_server(
    app: Ledger, settings: ServerSettings, forwarding: Forwarding | None = None
) -> RunningServer:
    """Catch the views up, build, bind and start the server; returns it with the port
    it listens on. The views then follow the log for as long as it runs.
    ``forwarding`` (full mode) makes, from the live views, the forward that takes
    Publish's envelopes elsewhere and brings back their verdicts."""
    live = LiveViews(app, VIEWS)
    await asyncio.to_thread(live.catch_up)
    live.start(asyncio.get_running_loop())
    forward = forwarding(live) if forwarding is not None else None
    limits = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # A port another server holds is refused, not shared with it.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=limits)
    servicers = (
        (ingest_service_pb2, "IngestService", IngestServicer(app, forward, live)),
        (plan_service_pb2, "PlanService", PlanServicer(Reads(live))),
        (review_service_pb2, "ReviewService", ReviewServicer(app, settings.registry, live)),
        (audit_service_pb2, "AuditService", AuditServicer(app)),
        (watch_service_pb2, "WatchService", WatchServicer(app, live)),
    )
    server.add_generic_rpc_handlers(
        [
            guarded(servicer, module.DESCRIPTOR.services_by_name[name])
            for module, name, servicer in servicers
        ]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        *SERVICES,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(settings.address)
    if port == 0:
        raise ConfigurationError(f"cannot listen on {settings.address}")
    await server.start()
    for name in ("", *SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    live.on_stop.append(lambda _: not_serving(health_servicer))
    log.info("serving %s on port %d", ", ".join(SERVICES), port)
    return RunningServer(server, port, health_servicer, live)


async def serve(
    app: Ledger, settings: ServerSettings, forwarding: Forwarding | None = None
) -> None:
    """Serve until SIGINT or SIGTERM, then let in-flight calls finish."""
    running = await start_server(app, settings, forwarding)
    print(f"lienthong: gRPC API on {settings.address.rsplit(':', 1)[0]}:{running.port}", flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down; in-flight calls have %.0f s", settings.grace_seconds)
    await running.stop(settings.grace_seconds, app.interrupt)
