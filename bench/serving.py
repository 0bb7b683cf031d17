"""What B3 and B4 share: a store with the four seed plans on a fresh embedded
PostgreSQL, the API server (``lienthong serve``) or a trivial grpc.aio server in a
process of its own, ``ghz`` to drive them, and the JSON result.

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

from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.store.database import Database, embedded_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PLANS = sorted((ROOT / "data" / "plans").glob("*.yaml"))
REGISTRY = ROOT / "data" / "agencies.yaml"
GHZ_VERSION = "v0.93.0"
GHZ = ROOT / ".tools" / "bin" / "ghz"
START_SECONDS = 120


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


def wait_serving(address: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                msg = f"the server exited with {process.returncode}"
                raise RuntimeError(msg)
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                time.sleep(0.2)
                continue
            return
    msg = f"no server answered on {address} within {START_SECONDS} s"
    raise RuntimeError(msg)


@contextmanager
def server_process(command: Sequence[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """A server in a process of its own; yields its address once it is SERVING."""
    address = f"127.0.0.1:{free_port()}"
    full_env = {**os.environ, **(env or {}), "LIENTHONG_GRPC_ADDRESS": address}
    process = subprocess.Popen(command, env=full_env, cwd=ROOT)  # noqa: S603
    try:
        wait_serving(address, process)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def api_server(db: Database) -> Any:
    lienthong = str(Path(sys.executable).parent / "lienthong")
    return server_process([lienthong, "serve"], {"LIENTHONG_DATABASE_URL": database_url(db)})


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
