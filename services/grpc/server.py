"""The gRPC server (grpc.aio): the five Lienthong services, health checking and
server reflection, message-size limits, graceful shutdown.

Health answers for "" and each service, and for :data:`LOG_HEALTH` (``lienthong.log``):
the log's tree within its limits (``LIENTHONG_TREE_MAX_LAG``,
``LIENTHONG_CHECKPOINT_MAX_AGE_SECONDS``: :mod:`services.app.checkpointer`).

While PostgreSQL is away (killed, restarting, unreachable) the server keeps running
and its views wait it out (:mod:`projections.engine.live`); health then says
(:func:`store_health`): ``""`` — the whole server, what the readiness probe asks — and
the services that need the store for everything they do (:data:`STORE_SERVICES`:
IngestService, ReviewService, AuditService) answer NOT_SERVING, from the moment the
views notice until the database answers again AND the views have caught up with the
log; PlanService, ReportService and WatchService stay SERVING — they answer from the
views in memory (as the last committed batch left them), and PlanService is what the
liveness probe asks: restarting the process would not bring the database back, it
would only lose the reads it can still give (a new process cannot even start without
the database). So a load balancer sends no new traffic to a replica that cannot
write, and nothing restarts it; the writes that still reach it answer UNAVAILABLE
``STORE_UNAVAILABLE`` (:mod:`services.grpc.errors`), and clients retry them with the
same id. Views that stopped (an event they cannot apply) leave everything NOT_SERVING,
for good, whatever the store does.

Settings (environment variables):

- ``LIENTHONG_GRPC_ADDRESS`` — where to listen (default ``127.0.0.1:50051``; port 0
  picks a free port);
- ``LIENTHONG_GRPC_MAX_MESSAGE_BYTES`` — the largest request or response (default 4 MiB);
- ``LIENTHONG_GRPC_GRACE_SECONDS`` — how long in-flight calls may finish on shutdown
  (default 10);
- ``LIENTHONG_AGENCIES`` — the agency registry used by ReviewService.AmendPlan
  (default ``data/agencies.yaml``; several files separated by ``:``, read as one);
- ``LIENTHONG_TLS_CERT`` / ``LIENTHONG_TLS_KEY`` — the server's certificate and key
  (PEM; default ``server.pem`` / ``server.key`` in ``$LIENTHONG_PKI_DIR``, itself
  ``.lienthong/pki`` by default); ``LIENTHONG_TRUST_ANCHORS`` — the authorities whose
  client certificates are accepted (default ``ca.pem`` there). ``lienthong pki init``
  makes a throwaway set;
- ``LIENTHONG_GRPC_PLAINTEXT=1`` (or ``lienthong serve --plaintext``) — development
  only: no TLS, every caller anonymous and read-only; refused unless the address is
  a loopback one;
- ``LIENTHONG_RATE_PER_SECOND`` / ``LIENTHONG_RATE_BURST`` — calls a second each
  identity is served, and its burst (default 200 and 400).

The server speaks mutual TLS: every caller shows a certificate issued by a trust
anchor, and its subject says who it is and in which role (:mod:`services.grpc.auth`,
the role matrix in :mod:`services.wire.roles` and ``docs/roles.md``).

In full mode the composition root (``services.cli``) hands the server a
``forwarding``: given the server's live views, it makes the ``forward`` that publishes
an envelope through Kafka and waits for its verdict (woken as the views follow the
log); without one, Publish applies envelopes in this process.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import signal
import socket
import threading
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
    reports_pb2,
    review_service_pb2,
    watch_service_pb2,
)

from projections.engine.live import STORE_AWAY, LiveViews
from projections.engine.source import EventSource
from projections.views import VIEWS
from services.app.audit import log_tree
from services.app.checkpointer import Checkpointer, LogLimits, log_status
from services.app.identity import TRUST_ANCHORS_ENV, TrustAnchors, anchors_file, pki_dir
from services.app.importer import DEFAULT_REGISTRY, registries_from_env
from services.app.ledger import Ledger
from services.grpc.audit import AuditServicer
from services.grpc.auth import DEFAULT_BURST, DEFAULT_RATE, Gate, RateLimiter
from services.grpc.errors import guarded
from services.grpc.ingest import Forwarding, IngestServicer
from services.grpc.plans import PlanServicer
from services.grpc.reads import Reads
from services.grpc.reports import ReportServicer
from services.grpc.review import ReviewServicer
from services.grpc.watch import WatchServicer
from services.metrics import VIEW_LAG, MetricsInterceptor, observe_log
from services.runtime import collect_less
from services.store.database import ConfigurationError
from services.store.tlog import LogTree

log = logging.getLogger(__name__)
LOG_HEALTH = "lienthong.log"
"""The health service name of the log's tree: SERVING while its lag and the latest
checkpoint's age are within their limits (:class:`services.app.checkpointer.LogLimits`)."""
LOG_HEALTH_SECONDS = 2.0
REPORTING: set[asyncio.Task[None]] = set()
SERVICES = [
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (ingest_service_pb2, "IngestService"),
        (plan_service_pb2, "PlanService"),
        (review_service_pb2, "ReviewService"),
        (audit_service_pb2, "AuditService"),
        (watch_service_pb2, "WatchService"),
        (reports_pb2, "ReportService"),
    )
]

STORE_SERVICES = [
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (ingest_service_pb2, "IngestService"),
        (review_service_pb2, "ReviewService"),
        (audit_service_pb2, "AuditService"),
    )
]
"""The services that need the store for everything they do: NOT_SERVING (with ``""``)
while it is away (:func:`store_health`)."""


@dataclass(frozen=True)
class ServerSettings:
    address: str = "127.0.0.1:50051"
    max_message_bytes: int = 4 * 1024 * 1024
    grace_seconds: float = 10.0
    registry: tuple[Path, ...] = (DEFAULT_REGISTRY,)
    # TLS (mutual): the server's certificate and key, and the authorities whose client
    # certificates it trusts; defaults in the PKI folder (services.app.identity).
    certificate: Path | None = None
    private_key: Path | None = None
    trust_anchors: Path | None = None
    # Plaintext, anonymous, read-only: development only, never on a non-loopback address.
    plaintext: bool = False
    # Fair use: calls a second per identity, and the burst it may spend at once.
    rate_per_second: float = DEFAULT_RATE
    rate_burst: float = DEFAULT_BURST

    @classmethod
    def from_env(cls) -> ServerSettings:
        defaults = cls()

        def path(name: str) -> Path | None:
            value = os.environ.get(name, "").strip()
            return Path(value) if value else None

        try:
            return cls(
                address=os.environ.get("LIENTHONG_GRPC_ADDRESS", defaults.address),
                max_message_bytes=int(
                    os.environ.get("LIENTHONG_GRPC_MAX_MESSAGE_BYTES", defaults.max_message_bytes)
                ),
                grace_seconds=float(
                    os.environ.get("LIENTHONG_GRPC_GRACE_SECONDS", defaults.grace_seconds)
                ),
                registry=registries_from_env(),
                certificate=path(TLS_CERT_ENV),
                private_key=path(TLS_KEY_ENV),
                trust_anchors=path(TRUST_ANCHORS_ENV),
                plaintext=os.environ.get(PLAINTEXT_ENV, "").strip().lower() in {"1", "true", "yes"},
                rate_per_second=float(
                    os.environ.get("LIENTHONG_RATE_PER_SECOND", defaults.rate_per_second)
                ),
                rate_burst=float(os.environ.get("LIENTHONG_RATE_BURST", defaults.rate_burst)),
            )
        except ValueError as error:
            raise ConfigurationError(
                f"a LIENTHONG_GRPC_* or LIENTHONG_RATE_* setting is not a number: {error}"
            ) from None

    def tls_files(self) -> tuple[Path, Path, Path]:
        """The server's certificate, its key and the trust anchors (their defaults
        in the PKI folder); a missing one is a :class:`ConfigurationError`."""
        files = (
            (self.certificate or pki_dir() / "server.pem", TLS_CERT_ENV),
            (self.private_key or pki_dir() / "server.key", TLS_KEY_ENV),
            (self.trust_anchors or anchors_file(), TRUST_ANCHORS_ENV),
        )
        for file, setting in files:
            if not file.is_file():
                msg = (
                    f"no {file} for mutual TLS: set {setting}, or run `lienthong pki init` "
                    f"for a throwaway authority (or {PLAINTEXT_ENV}=1 on loopback, development "
                    "only)"
                )
                raise ConfigurationError(msg)
        return files[0][0], files[1][0], files[2][0]

    def credentials(self) -> grpc.ServerCredentials | None:
        """The server's mutual-TLS credentials; None when plaintext (checked to be on
        loopback)."""
        if self.plaintext:
            if not is_loopback(self.address):
                msg = (
                    f"plaintext ({PLAINTEXT_ENV}) is for development on a loopback address, "
                    f"not {self.address}"
                )
                raise ConfigurationError(msg)
            return None
        certificate, key, anchors = self.tls_files()
        return grpc.ssl_server_credentials(
            [(key.read_bytes(), certificate.read_bytes())],
            root_certificates=anchors.read_bytes(),
            require_client_auth=True,
        )


TLS_CERT_ENV = "LIENTHONG_TLS_CERT"
TLS_KEY_ENV = "LIENTHONG_TLS_KEY"
PLAINTEXT_ENV = "LIENTHONG_GRPC_PLAINTEXT"


def is_loopback(address: str) -> bool:
    """Whether ``address`` ("host:port") listens on loopback only."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    live: LiveViews
    log_health: asyncio.Task[None]
    # Embedded mode: the tree's follower and checkpointer, and its thread.
    checkpointer: Checkpointer | None = None
    following: threading.Thread | None = None

    async def stop(self, grace: float, interrupt: Callable[[], None] | None = None) -> None:
        """Let in-flight calls finish for ``grace`` seconds; then ``interrupt`` (when
        given) makes whatever still waits for the store fail, so nothing outlives it."""
        self.log_health.cancel()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        self.live.stopping.set()  # what the interruption breaks is no outage to it
        if interrupt is not None:
            interrupt()
        await asyncio.to_thread(self.live.stop)
        if self.following is not None:
            await asyncio.to_thread(self.following.join)


def observe_views(live: LiveViews) -> None:
    """Each view's lag behind the log (``lienthong_view_lag_records``)."""
    last = live.app.recorder.max_notification_id() or 0
    for name, followed in live.followed.items():
        VIEW_LAG.labels(name).set(max(0, last - followed.position))


async def report_log_health(
    health_servicer: health.aio.HealthServicer, tree: LogTree, limits: LogLimits, live: LiveViews
) -> None:
    """Set :data:`LOG_HEALTH` from the tree's lag and the latest checkpoint's age; the
    log's and the views' metrics too."""
    try:
        status = await asyncio.to_thread(log_status, tree)
        await asyncio.to_thread(observe_views, live)
    except STORE_AWAY as error:  # the views' follower says so, once per outage
        log.debug("the log's status is unknown, the store away: %s", error)
        healthy = False
    except Exception:
        log.exception("the log's status is unknown: not serving it")
        healthy = False
    else:
        healthy = status.healthy(limits)
        observe_log(status.lag, status.stored, status.age_seconds)
    serving = health_pb2.HealthCheckResponse.SERVING
    await health_servicer.set(
        LOG_HEALTH, serving if healthy else health_pb2.HealthCheckResponse.NOT_SERVING
    )


async def watch_log_health(
    health_servicer: health.aio.HealthServicer, tree: LogTree, limits: LogLimits, live: LiveViews
) -> None:
    """:func:`report_log_health` every :data:`LOG_HEALTH_SECONDS`, until cancelled."""
    while True:
        await asyncio.sleep(LOG_HEALTH_SECONDS)
        await report_log_health(health_servicer, tree, limits, live)


def not_serving(health_servicer: health.aio.HealthServicer) -> None:
    """Health answers NOT_SERVING from now on (the views stopped; see the log)."""
    report_health(health_servicer, ("", *SERVICES), serving=lambda: False)


def store_health(health_servicer: health.aio.HealthServicer, live: LiveViews, away: bool) -> None:
    """The database away: ``""`` and :data:`STORE_SERVICES` answer NOT_SERVING; back,
    with the views caught up: SERVING again — unless the views stopped meanwhile."""
    report_health(
        health_servicer, ("", *STORE_SERVICES), serving=lambda: not away and live.failure is None
    )


def report_health(
    health_servicer: health.aio.HealthServicer,
    names: tuple[str, ...],
    serving: Callable[[], bool],
) -> None:
    """Set the status of ``names`` (SERVING when ``serving()``, asked when the task
    runs) in a task of its own, after those set before it."""

    async def report() -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving() else NOT_SERVING
        for name in names:
            await health_servicer.set(name, status)

    task = asyncio.get_running_loop().create_task(report())
    REPORTING.add(task)  # held until done: the loop keeps only a weak reference
    task.add_done_callback(REPORTING.discard)


NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def port_in_use(address: str) -> str | None:
    """The first of ``address``'s resolved addresses (``host:port``; port 0 is never in
    use) that a socket is bound to already, or None. grpc binds what it can of a name
    that resolves to several addresses (``localhost``: ``::1`` and ``127.0.0.1``) and
    only warns about the rest; this refuses the whole."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return None
    try:
        resolved = socket.getaddrinfo(host.strip("[]") or None, int(port), type=socket.SOCK_STREAM)
    except OSError:
        return None  # grpc reports a name it cannot resolve
    for family, kind, proto, _name, where in resolved:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc binds
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(where)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return ":".join((str(where[0]), port))
    return None


def bind(
    server: grpc.aio.Server | grpc.Server,
    address: str,
    credentials: grpc.ServerCredentials | None,
    *,
    serving: str = "",
    hint: str = "is another lienthong serve running? Stop it or set LIENTHONG_GRPC_ADDRESS",
) -> int:
    """Bind ``server`` to ``address`` (without SO_REUSEPORT: a port another process
    holds is never shared) and return the port; a :class:`ConfigurationError` naming
    the address (``serving``: what is served there, ``hint``: what to do when it is
    taken) when it is in use or cannot be bound."""
    failure = f"cannot listen on {address}" + (f" for {serving}" if serving else "")
    taken = port_in_use(address)
    if taken is not None:
        msg = f"{failure}: address already in use ({taken}); {hint}"
        raise ConfigurationError(msg)
    try:
        if credentials is None:
            log.warning(
                "plaintext on %s%s: callers are anonymous (development only)",
                address,
                f" ({serving})" if serving else "",
            )
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as error:  # grpc ≥ 1.50 raises where older ones returned 0
        msg = f"{failure} (in use, or not an address of this host): {error}"
        raise ConfigurationError(msg) from None
    if port == 0:
        msg = f"{failure} (in use, or not an address of this host)"
        raise ConfigurationError(msg)
    return int(port)


async def start_server(
    app: Ledger,
    settings: ServerSettings,
    forwarding: Forwarding | None = None,
    checkpointer: Checkpointer | None = None,
    source: EventSource | None = None,
) -> RunningServer:
    """Catch the views up, build, bind and start the server; returns it with the port
    it listens on. The views then follow the log for as long as it runs — read from
    ``source`` when given (a hot standby: ``LIENTHONG_READ_DATABASE_URL``), polled
    and kept in memory only (:class:`~projections.engine.live.LiveViews` read-only);
    writes still go to ``app``.
    ``forwarding`` (full mode) makes, from the live views, the forward that takes
    Publish's envelopes elsewhere and brings back their verdicts. ``checkpointer``
    (embedded mode) runs in a thread for as long as the server does. Health reports
    :data:`LOG_HEALTH` too, evaluated every :data:`LOG_HEALTH_SECONDS`."""
    credentials = settings.credentials()  # refuse a bad configuration before anything
    # Signatures are checked against the same anchors as client certificates (a
    # plaintext development server may have none: it takes no writes).
    anchors_path = settings.trust_anchors or anchors_file()
    anchors = TrustAnchors.load(anchors_path) if anchors_path.is_file() else None
    limits = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # A port another server holds is refused, not shared with it.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=limits, interceptors=[MetricsInterceptor()])
    # Bound before the views catch up (minutes on a large store), so a port in use is
    # refused at once; nothing is served before server.start().
    port = bind(server, settings.address, credentials)
    live = LiveViews(source or app, VIEWS, read_only=source is not None)
    try:
        await asyncio.to_thread(live.catch_up)
    except BaseException:
        # grpc lets a bound port go only once the server has started and stopped (no
        # handler is registered yet: nothing is served meanwhile).
        await server.start()
        await server.stop(None)
        raise
    live.start(asyncio.get_running_loop())
    forward = forwarding(live) if forwarding is not None else None
    reads = Reads(live)  # PlanService's and ReportService's reads share their replays
    servicers = (
        (ingest_service_pb2, "IngestService", IngestServicer(app, forward, live, anchors)),
        (plan_service_pb2, "PlanService", PlanServicer(reads)),
        (reports_pb2, "ReportService", ReportServicer(reads)),
        (
            review_service_pb2,
            "ReviewService",
            ReviewServicer(app, settings.registry, live, anchors),
        ),
        (audit_service_pb2, "AuditService", AuditServicer(app)),
        (watch_service_pb2, "WatchService", WatchServicer(app, live)),
    )
    gate = Gate(app, RateLimiter(settings.rate_per_second, settings.rate_burst))
    server.add_generic_rpc_handlers(
        [
            guarded(servicer, module.DESCRIPTOR.services_by_name[name], gate)
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
    await server.start()
    for name in ("", *SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    live.on_stop.append(lambda _: not_serving(health_servicer))
    live.on_store.append(lambda away: store_health(health_servicer, live, away))
    if live.store_away:  # it went before the server started
        store_health(health_servicer, live, away=True)
    tree, log_limits = await asyncio.to_thread(log_tree, app.recorder), LogLimits.from_env()
    following = checkpointer.start() if checkpointer is not None else None
    await report_log_health(health_servicer, tree, log_limits, live)
    watching = asyncio.get_running_loop().create_task(
        watch_log_health(health_servicer, tree, log_limits, live)
    )
    log.info("serving %s on port %d", ", ".join(SERVICES), port)
    return RunningServer(server, port, health_servicer, live, watching, checkpointer, following)


async def serve(
    app: Ledger,
    settings: ServerSettings,
    forwarding: Forwarding | None = None,
    checkpointer: Checkpointer | None = None,
    source: EventSource | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then let in-flight calls finish."""
    running = await start_server(app, settings, forwarding, checkpointer, source)
    # The process is this server's alone (not a test's or the demo's, which start
    # several): the views as built stay out of the collector's walks, fewer pauses.
    collect_less()
    print(f"lienthong: gRPC API on {settings.address.rsplit(':', 1)[0]}:{running.port}", flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down; in-flight calls have %.0f s", settings.grace_seconds)
    await running.stop(settings.grace_seconds, app.interrupt)
