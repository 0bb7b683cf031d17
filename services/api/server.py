"""The gRPC server (grpc.aio): the five Lienthong services, health checking and
server reflection, message-size limits, graceful shutdown.

Settings (environment variables):

- ``LIENTHONG_GRPC_ADDRESS`` — where to listen (default ``127.0.0.1:50051``; port 0
  picks a free port);
- ``LIENTHONG_GRPC_MAX_MESSAGE_BYTES`` — the largest request or response (default 4 MiB);
- ``LIENTHONG_GRPC_GRACE_SECONDS`` — how long in-flight calls may finish on shutdown
  (default 10);
- ``LIENTHONG_AGENCIES`` — the agency registry used by ReviewService.AmendPlan
  (default ``data/agencies.yaml``);
- ``LIENTHONG_VERDICT_WAIT_SECONDS`` — in full mode, how long Publish waits for the
  ingest worker's verdict (default 10).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    review_service_pb2,
    review_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)

from projections.live import LiveViews
from services.api.audit import AuditServicer
from services.api.errors import guarded
from services.api.ingest import IngestServicer
from services.api.plans import PlanServicer
from services.api.reads import Reads
from services.api.review import ReviewServicer
from services.api.watch import WatchServicer
from services.app import Lienthong
from services.kafka_submit import KafkaSubmitter
from services.relay import kafka_producer
from services.store import ConfigurationError
from services.worker import AGENCY_EVENTS, KafkaSettings

log = logging.getLogger(__name__)
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
    via_kafka: KafkaSettings | None = None  # full mode: Publish goes through Kafka
    verdict_wait_seconds: float = 10.0

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
                verdict_wait_seconds=float(
                    os.environ.get("LIENTHONG_VERDICT_WAIT_SECONDS", defaults.verdict_wait_seconds)
                ),
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

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await asyncio.to_thread(self.live.stop)


async def start_server(app: Lienthong, settings: ServerSettings) -> RunningServer:
    """Catch the views up, build, bind and start the server; returns it with the port
    it listens on. The views then follow the log for as long as it runs."""
    live = LiveViews(app)
    await asyncio.to_thread(live.catch_up)
    live.start(asyncio.get_running_loop())
    limits = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
    ]
    server = grpc.aio.server(options=limits)
    via_kafka = None
    if settings.via_kafka is not None:
        topic = settings.via_kafka.topic(AGENCY_EVENTS)
        producer = kafka_producer(settings.via_kafka.bootstrap)
        via_kafka = KafkaSubmitter(app, producer, topic, settings.verdict_wait_seconds)
    servicers = (
        (ingest_service_pb2, "IngestService", IngestServicer(app, via_kafka, live)),
        (plan_service_pb2, "PlanService", PlanServicer(Reads(live))),
        (review_service_pb2, "ReviewService", ReviewServicer(app, settings.registry, live)),
        (audit_service_pb2, "AuditService", AuditServicer(app)),
        (watch_service_pb2, "WatchService", WatchServicer(app, live)),
    )
    adders: dict[str, Callable[[Any, grpc.aio.Server], None]] = {
        "IngestService": ingest_service_pb2_grpc.add_IngestServiceServicer_to_server,
        "PlanService": plan_service_pb2_grpc.add_PlanServiceServicer_to_server,
        "ReviewService": review_service_pb2_grpc.add_ReviewServiceServicer_to_server,
        "AuditService": audit_service_pb2_grpc.add_AuditServiceServicer_to_server,
        "WatchService": watch_service_pb2_grpc.add_WatchServiceServicer_to_server,
    }
    for module, name, servicer in servicers:
        adders[name](guarded(servicer, module.DESCRIPTOR.services_by_name[name]), server)
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
    log.info("serving %s on port %d", ", ".join(SERVICES), port)
    return RunningServer(server, port, health_servicer, live)


async def serve(app: Lienthong, settings: ServerSettings) -> None:
    """Serve until SIGINT or SIGTERM, then let in-flight calls finish."""
    running = await start_server(app, settings)
    print(f"lienthong: gRPC API on {settings.address.rsplit(':', 1)[0]}:{running.port}", flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down; in-flight calls have %.0f s", settings.grace_seconds)
    await running.stop(settings.grace_seconds)
