"""The background processes' gRPC health service (services.grpc.health): the ingest
worker, the relay, reminders and the checkpointer, each in a process of its own on a real PostgreSQL and a real
broker, answer over mutual TLS — SERVING while they do their job, NOT_SERVING while
their store is unreachable (a TCP proxy between them and PostgreSQL, cut and restored:
the embedded server's watchdog would bring a stopped one back too soon to look), and
never to a caller without a certificate."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.app.identity import Role
from services.app.ledger import Ledger
from services.app.pki import identity_files
from services.store.database import Database, database_url
from tests.deploy.documents import by_name, containers
from tests.e2e.test_health_probe import BINARY, run_as_deployed
from tests.identities import folder, identity
from tests.kafka.processes import CliProcess
from tests.kafka.test_full_mode import full_mode  # noqa: F401 - a fixture
from tests.kafka.test_ingestion import wait_for
from tests.kafka_broker import start as start_broker
from tests.kafka_broker import stop as stop_broker

LISTENING = re.compile(r"gRPC health of \S+ on (\S+:\d+)")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Proxy:
    """A TCP proxy to PostgreSQL: :meth:`cut` drops every connection and refuses new
    ones (the store unreachable) until :meth:`restore`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.lock:
                if not self.open:
                    client.close()
                    continue
                upstream = self.connect()
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def connect(self) -> socket.socket:
        host, port = self.target
        if not host.startswith("/"):
            return socket.create_connection(self.target)
        upstream = socket.socket(socket.AF_UNIX)  # the embedded server's socket folder
        upstream.connect(f"{host}/.s.PGSQL.{port}")
        return upstream

    @staticmethod
    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            self.open = False
            for end in self.sockets:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self.sockets.clear()

    def restore(self) -> None:
        with self.lock:
            self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(database: Database) -> Iterator[Proxy]:
    running = Proxy(database.host, database.port)
    yield running
    running.close()


def environment(database: Database, bootstrap: str, prefix: str) -> dict[str, str]:
    pki = folder()
    return {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_KAFKA_BOOTSTRAP": bootstrap,
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_INGEST_GROUP": f"{prefix}ingest",
        "LIENTHONG_HEALTH_ADDRESS": "127.0.0.1:0",  # a free port, logged
        "LIENTHONG_TLS_CERT": str(pki / "server.pem"),
        "LIENTHONG_TLS_KEY": str(pki / "server.key"),
        "LIENTHONG_TRUST_ANCHORS": str(pki / "ca.pem"),
    }


def started(command: str, env: dict[str, str], log: Path) -> CliProcess:
    process = CliProcess(command, env, log)
    process.start()
    return process


def health_address(process: CliProcess) -> str:
    """Where ``process`` serves its health, once it has logged it."""
    found: list[str] = []

    def logged() -> bool:
        assert process.process is not None
        assert process.process.poll() is None, process.log.read_text(errors="replace")
        found[:] = LISTENING.findall(process.log.read_text(errors="replace"))
        return bool(found)

    wait_for(logged, f"{process.command} to serve its health")
    return found[-1]


def status(address: str) -> int | None:
    """The whole process's health as the operator's certificate is told it (None: no
    answer)."""
    with identity("operator").secure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5, wait_for_ready=True
            )
        except grpc.RpcError:
            return None
    return int(answer.status)


def probe_commands(deployment: str) -> list[list[str]]:
    """The distinct grpc_health_probe commands of ``deployment``'s probes (deploy/k8s;
    the checkpointer's readiness asks the log's tree through the command line)."""
    (container,) = containers(by_name("Deployment", deployment))
    found: list[list[str]] = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[kind]["exec"]["command"]
        if command[0] == "grpc_health_probe" and command not in found:
            found.append(command)
    assert found, f"{deployment} has no probe on its health service"
    return found


@pytest.mark.skipif(BINARY is None, reason="grpc_health_probe is not installed (make probe)")
@pytest.mark.parametrize(
    ("deployment", "command"),
    [
        ("lienthong-ingest-worker", "ingest-worker"),
        ("lienthong-relay", "relay"),
        ("lienthong-reminders", "reminders"),
        ("lienthong-checkpointer", "checkpointer"),
    ],
)
def test_the_deployed_probes_find_the_background_process_serving(
    deployment: str, command: str, publishing: dict[str, str], tmp_path: Path
) -> None:
    """The exact probe commands of the process's Deployment, run by grpc_health_probe
    against it (the pod's address and mounted files swapped for the test's)."""
    files = identity_files(folder(), "operator", Role.OPERATOR)
    process = started(command, publishing, tmp_path / f"{command}.log")
    try:
        address = health_address(process)
        wait_for(lambda: status(address) == SERVING, f"{command} to serve")
        for probe in probe_commands(deployment):
            assert run_as_deployed(probe, address, files.certificate, files.key) == 0, probe
    finally:
        process.stop()


def test_the_ingest_worker_serves_its_health_over_mutual_tls_and_follows_its_store(
    database: Database,
    proxy: Proxy,
    broker: tuple[Path, int, str],
    prefix: str,
    tmp_path: Path,
) -> None:
    through_proxy = Database(
        "127.0.0.1", proxy.port, database.user, database.password, database.dbname
    )
    worker = started(
        "ingest-worker", environment(through_proxy, broker[2], prefix), tmp_path / "worker.log"
    )
    try:
        address = health_address(worker)
        wait_for(lambda: status(address) == SERVING, "the worker to serve")

        # A caller without a certificate is refused (mutual TLS), and so is plaintext.
        anchors = (folder() / "ca.pem").read_bytes()
        for channel in (
            grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=anchors)),
            grpc.insecure_channel(address),
        ):
            with channel, pytest.raises(grpc.RpcError) as refused:
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        proxy.cut()
        wait_for(lambda: status(address) == NOT_SERVING, "the worker to say its store is away")
        proxy.restore()
        wait_for(lambda: status(address) == SERVING, "the worker to serve again")
    finally:
        worker.stop()


@pytest.fixture
def publishing(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> dict[str, str]:
    """The publishers' environment, on a store with the plans (a log to follow)."""
    env = environment(database, broker[2], prefix)
    env["LIENTHONG_LOG_KEY_FILE"] = str(tmp_path / "log.key")  # the checkpointer's
    return env


@pytest.mark.parametrize("command", ["relay", "reminders", "checkpointer"])
def test_the_publishers_serve_their_health(
    command: str, publishing: dict[str, str], tmp_path: Path
) -> None:
    env = publishing
    process = started(command, env, tmp_path / f"{command}.log")
    try:
        address = health_address(process)
        wait_for(lambda: status(address) == SERVING, f"{command} to serve")
    finally:
        process.stop()
    assert process.process is not None
    assert process.process.returncode == 0  # stopped by SIGTERM, cleanly


def test_the_relay_is_not_serving_while_its_broker_is_away_beyond_the_grace(
    publishing: dict[str, str], broker: tuple[Path, int, str], tmp_path: Path
) -> None:
    env = {**publishing, "LIENTHONG_HEALTH_GRACE_SECONDS": "2"}
    relay = started("relay", env, tmp_path / "relay.log")
    home, port, _ = broker
    try:
        address = health_address(relay)
        wait_for(lambda: status(address) == SERVING, "the relay to serve")
        stop_broker(home, port)
        try:
            wait_for(lambda: status(address) == NOT_SERVING, "the relay to miss its broker")
        finally:
            start_broker(home, port)
        wait_for(lambda: status(address) == SERVING, "the relay to serve again")
    finally:
        relay.stop()


def test_in_full_mode_each_background_child_serves_its_health_on_a_port_of_its_own(
    full_mode: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    log = tmp_path / "full.log"
    children = {"ingest-worker", "relay", "checkpointer", "reminders"}
    found: dict[str, str] = {}

    def all_listening() -> bool:
        text = log.read_text(errors="replace")
        found.update(re.findall(r"gRPC health of (\S+) on (\S+:\d+)", text))
        return set(found) == children

    wait_for(all_listening, "every background child to serve its health")
    assert len(set(found.values())) == len(children)
    for child, address in found.items():
        wait_for(lambda a=address: status(a) == SERVING, f"{child} to serve")
