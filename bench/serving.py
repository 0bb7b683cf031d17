"""What B3 and B4 share: a store with the four seed plans on a fresh embedded
PostgreSQL, the API server (``lienthong serve``) or a trivial grpc.aio server in a
process of its own, ``ghz`` to drive them, and the JSON result.

The API server runs over mutual TLS when given a throwaway authority's folder
(:func:`identities`: every seed agency's certificate, their keys registered in the
store), and its clients call with an agency's certificate (:func:`client_channel`);
without one, it runs with the development flag ``LIENTHONG_GRPC_PLAINTEXT`` on
loopback, where anonymous calls may read (B3's reads, B5).

``ghz`` is installed with ``go install`` into ``.tools/bin`` (version pinned below).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from domain.keys import Role
from lienthong_sdk.identity import Identity
from services.app.identity import TrustAnchors, register_key
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.app.pki import identity_files, init_pki, roles_of
from services.store.database import Database, embedded_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PLANS = sorted((ROOT / "data" / "plans").glob("*.yaml"))
REGISTRY = ROOT / "data" / "agencies.yaml"
GHZ_VERSION = "v0.93.0"
GHZ = ROOT / ".tools" / "bin" / "ghz"
START_SECONDS = 120
OPERATOR = Actor(agency="operator:bench", channel="cli")


def ghz() -> Path:
    """The ghz binary, installed on first use."""
    if not GHZ.exists():
        env = {**os.environ, "GOBIN": str(GHZ.parent)}
        install = ["go", "install", f"github.com/bojand/ghz/cmd/ghz@{GHZ_VERSION}"]
        subprocess.run(install, check=True, env=env)  # noqa: S603
    return GHZ


def protoset(folder: Path) -> Path:
    """The API's descriptors (imports included) for ghz."""
    out = folder / "lienthong.protoset"
    protos = sorted(str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto"))
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(ROOT / "protos"),
            "--include_imports",
            f"--descriptor_set_out={out}",
            *protos,
        ],
        check=True,
    )
    return out


def database_url(db: Database) -> str:
    return (
        f"postgresql://{quote(db.user)}:{quote(db.password)}@localhost:{db.port}/{db.dbname}"
        f"?host={quote(db.host)}"
    )


@contextmanager
def seeded_store() -> Iterator[tuple[Database, Ledger]]:
    """A fresh embedded PostgreSQL holding the four seed plans."""
    with (
        tempfile.TemporaryDirectory(prefix="lienthong-bench-") as folder,
        embedded_server(Path(folder)) as db,
    ):
        app = Ledger(env=db.eventsourcing_env())
        import_plans(app, PLANS, REGISTRY)
        try:
            yield db, app
        finally:
            app.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def identities(app: Ledger, folder: Path) -> Path:
    """A throwaway authority in ``folder`` with every seed agency's certificate (and
    an auditor's and an operator's), each agency's key registered in ``app``'s store
    (as ``operator:bench``); returns ``folder``."""
    roles = roles_of(REGISTRY, PLANS)
    init_pki(folder, roles)
    anchors = TrustAnchors.load(folder / "ca.pem")
    for name, role in roles.items():
        certificate = identity_files(folder, name, role).certificate.read_bytes()
        register_key(app, certificate, anchors, OPERATOR)
    return folder


def identity(folder: Path, name: str) -> Identity:
    """The certificate and key of ``name`` (a seed agency, "auditor" or "operator")."""
    role = roles_of(REGISTRY, PLANS).get(name) or Role(name)
    files = identity_files(folder, name, role)
    return Identity.from_files(files.certificate, files.key, folder / "ca.pem")


def settled(channel: grpc.Channel, seconds: float = START_SECONDS) -> bool:
    """Whether ``channel``'s first connection attempt succeeds (READY) rather than
    fails (TRANSIENT_FAILURE): a TLS channel to a server that does not speak TLS fails."""
    done = threading.Event()
    states: list[grpc.ChannelConnectivity] = []
    final = (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE)

    def seen(state: grpc.ChannelConnectivity) -> None:
        states.append(state)
        if state in final:
            done.set()

    channel.subscribe(seen, try_to_connect=True)
    try:
        done.wait(seconds)
    finally:
        channel.unsubscribe(seen)
    return grpc.ChannelConnectivity.READY in states


def client_channel(address: str, who: Identity | None) -> grpc.Channel:
    """A channel to a serving API: mutual TLS with ``who``'s certificate — unless the
    server does not speak TLS (a server before mutual TLS, or the development flag),
    then plaintext. None: plaintext."""
    if who is not None:
        secure = who.secure_channel(address)
        if settled(secure):
            return secure
        secure.close()
        say(f"the server at {address} does not speak TLS: plaintext (messages still signed)")
    return grpc.insecure_channel(address)


def say(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)  # noqa: T201


def wait_serving(
    address: str, process: subprocess.Popen[bytes], who: Identity | None = None
) -> None:
    """Wait until health answers SERVING: over mutual TLS with ``who``'s certificate,
    or plaintext (tried in turn: the server may speak either)."""
    deadline = time.monotonic() + START_SECONDS
    channels = [grpc.insecure_channel(address)]
    if who is not None:
        channels.insert(0, who.secure_channel(address))
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                msg = f"the server exited with {process.returncode}"
                raise RuntimeError(msg)
            for channel in channels:
                try:
                    health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                except grpc.RpcError:
                    continue
                return
            time.sleep(0.2)  # not up yet: poll again
    finally:
        for channel in channels:
            channel.close()
    msg = f"no server answered on {address} within {START_SECONDS} s"
    raise RuntimeError(msg)


@contextmanager
def server_process(
    command: Sequence[str], env: dict[str, str] | None = None, who: Identity | None = None
) -> Iterator[str]:
    """A server in a process of its own; yields its address once it is SERVING."""
    address = f"127.0.0.1:{free_port()}"
    full_env = {**os.environ, **(env or {}), "LIENTHONG_GRPC_ADDRESS": address}
    process = subprocess.Popen(command, env=full_env, cwd=ROOT)  # noqa: S603
    profiler = start_profile(process.pid)
    try:
        wait_serving(address, process, who)
        yield address
    finally:
        if profiler is not None:
            profiler.wait()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


PROFILE_ENV = "BENCH_PROFILE_SERVER"  # a file: py-spy samples the server as it starts


def start_profile(pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy (when installed, and ``BENCH_PROFILE_SERVER`` names an output file: one
    ``<file>.<pid>`` per server)
    sampling ``pid`` for its first ``BENCH_PROFILE_SECONDS`` (60), as raw stacks."""
    output = os.environ.get(PROFILE_ENV)
    spy = Path(sys.executable).parent / "py-spy"
    if not output or not spy.exists():
        return None
    seconds = os.environ.get("BENCH_PROFILE_SECONDS", "60")
    record = [str(spy), "record", "--pid", str(pid), "-d", seconds, "-r", "50", "-f", "raw"]
    return subprocess.Popen([*record, "-o", f"{output}.{pid}"])  # noqa: S603


def api_server(db: Database, pki: Path | None = None) -> Any:
    """``lienthong serve`` on ``db``: over mutual TLS with the authority in ``pki``
    (the server's certificate and key, trusting its client certificates), or else
    plaintext on loopback (the development flag)."""
    lienthong = str(Path(sys.executable).parent / "lienthong")
    env = {
        "LIENTHONG_DATABASE_URL": database_url(db),
        # The benches measure the API, not the fair-use limit (200 calls/s per identity,
        # or per host for anonymous calls, would cap B3's load): lifted unless set.
        "LIENTHONG_RATE_PER_SECOND": os.environ.get("LIENTHONG_RATE_PER_SECOND", "1000000"),
        "LIENTHONG_RATE_BURST": os.environ.get("LIENTHONG_RATE_BURST", "1000000"),
    }
    if pki is None:
        env["LIENTHONG_GRPC_PLAINTEXT"] = "1"
        return server_process([lienthong, "serve"], env)
    env |= {
        "LIENTHONG_PKI_DIR": str(pki),
        "LIENTHONG_TLS_CERT": str(pki / "server.pem"),
        "LIENTHONG_TLS_KEY": str(pki / "server.key"),
        "LIENTHONG_TRUST_ANCHORS": str(pki / "ca.pem"),
    }
    return server_process([lienthong, "serve"], env, identity(pki, "operator"))


def run_ghz(
    address: str,
    descriptors: Path,
    call: str,
    data: dict[str, Any],
    *,
    rps: int,
    concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    """One ghz run; requests/s, latency percentiles (ms) and errors."""
    command = [
        str(ghz()),
        "--insecure",
        f"--protoset={descriptors}",
        f"--call={call}",
        f"--data={json.dumps(data)}",
        f"--concurrency={concurrency}",
        f"--duration={seconds}s",
        "--format=json",
        address,
    ]
    if rps:
        command.insert(-1, f"--rps={rps}")
    done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    report = json.loads(done.stdout)
    latencies = {
        int(p["percentage"]): p["latency"] / 1e6 for p in report.get("latencyDistribution") or []
    }
    return {
        "requests": report["count"],
        "rps": round(report["rps"], 1),
        "p50_ms": round(latencies.get(50, 0.0), 3),
        "p99_ms": round(latencies.get(99, 0.0), 3),
        "average_ms": round(report["average"] / 1e6, 3),
        "errors": report.get("errorDistribution") or {},
        "status": report.get("statusCodeDistribution") or {},
        "settings": {"rps": rps or "max", "concurrency": concurrency, "seconds": seconds},
    }


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in ("grpcio", "protobuf", "eventsourcing", "psycopg"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],  # the machine may be shared
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {**versions, "ghz": GHZ_VERSION},
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {"benchmark": name, "at": datetime.now(UTC).isoformat(), "machine": machine()}
    path.write_text(json.dumps({**stamped, **result}, indent=2, ensure_ascii=False) + "\n")
    return path
