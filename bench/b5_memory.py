"""B5 — memory: peak resident memory of the ingest worker with 100,000 active
subjects, and of the API server serving them.

The worker (``lienthong ingest-worker``, its own process, as in production) joins
the consumer group on an empty topic — its resident memory at rest is the baseline —
then stores a reporting month of :mod:`bench.dataset` in which every one of the
~100,000 tasks and indicators of the synthetic wards reports at least once, so the
worker's cache holds them all; the figure is the peak (``VmHWM``) once every envelope
is stored. Then ``lienthong serve`` starts on the same store (its views caught up
before it listens), answers ``GetPlanStatus`` for every plan once, and its resident
memory after start and after serving (peak) are read the same way.

There is no target figure in the issue: the result records the figures, the
baseline and the bytes per active subject.

    python -m bench.b5_memory [--subjects 100000] [--events 120000] [--no-server]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from lienthong.v1 import plan_service_pb2, plan_service_pb2_grpc

from bench import serving
from bench.b1_ingest import run_worker, seeded
from bench.dataset import Dataset, Outcome, Spec, wards_for
from bench.harness import (
    Every,
    Result,
    fresh_database,
    kafka_broker,
    postgres_server,
    rss_kib,
    say,
)
from services.store.database import Database

SERVER_START_SECONDS = 900  # the server catches every view up before it listens


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def serve_them(db: Database, plans: list[str]) -> dict[str, Any]:
    """RSS of ``lienthong serve`` after it started, and after answering every plan."""
    serving.START_SECONDS = max(serving.START_SECONDS, SERVER_START_SECONDS)
    start = time.monotonic()
    with serving.api_server(db) as address:
        started = time.monotonic() - start
        pid = server_pid(address)
        at_start = rss_kib(pid)
        say(f"API server serving after {started:.0f} s; resident {at_start[0] / 1024:.0f} MiB")
        every = Every(5.0)
        errors = 0
        begin = time.monotonic()
        with grpc.insecure_channel(address) as channel:
            stub = plan_service_pb2_grpc.PlanServiceStub(channel)
            for index, plan in enumerate(plans, 1):
                request = plan_service_pb2.GetPlanStatusRequest(plan_id=plan, as_of="2026-04-01")
                try:
                    stub.GetPlanStatus(request, timeout=60)
                except grpc.RpcError:
                    errors += 1
                if every.due():
                    say(f"GetPlanStatus: {index:,}/{len(plans):,} plans")
        seconds = time.monotonic() - begin
        after = rss_kib(pid)
    return {
        "start_seconds": round(started, 1),
        "rss_after_start_mib": mib(at_start[0]),
        "rss_after_serving_mib": mib(after[0]),
        "peak_rss_mib": mib(after[1]),
        "plans_queried": len(plans),
        "query_errors": errors,
        "query_seconds": round(seconds, 1),
    }


def server_pid(address: str) -> int:
    """The pid of the process listening on ``address`` (the server we started)."""
    port = int(address.rsplit(":", 1)[1])
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):  # gRPC may listen dual-stack
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                inodes.add(parts[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = str(fd.readlink())
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    msg = f"no process listens on {address}"
    raise RuntimeError(msg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B5: resident memory with 100,000 subjects")
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=110_000)
    parser.add_argument("--seed", type=int, default=57)
    parser.add_argument("--no-server", action="store_true", help="measure the worker only")
    args = parser.parse_args(argv)

    spec = Spec(wards=wards_for(args.subjects), events=args.events, seed=args.seed)
    dataset = Dataset(spec)
    result = Result("b5_memory", "B5 memory")
    say(f"generating {args.events:,} envelopes, {spec.wards:,} synthetic wards, seed {spec.seed}")
    messages = dataset.materialise(
        lambda n: say(f"generated {n:,} envelopes") if n % 50_000 == 0 else None
    )
    subjects = len(dataset.world.subjects())
    active = len({m.key for m in messages if m.expect is Outcome.ACCEPTED})
    with (
        postgres_server() as server,
        kafka_broker() as broker,
        tempfile.TemporaryDirectory(prefix="lienthong-bench-b5-") as folder,
        fresh_database(server, "b5") as db,
    ):
        app = seeded(db, dataset)
        try:
            run = run_worker(db, broker, app, messages, Path(folder), idle_first=True)
        finally:
            app.close()
        say(
            f"worker: at rest {mib(run.idle_rss_kib)} MiB, peak {mib(run.worker_peak_kib)} MiB"
            f" after {run.records:,} envelopes on {active:,} subjects"
        )
        per_subject = (run.worker_peak_kib - run.idle_rss_kib) * 1024 / max(1, active)
        result.figures = {
            "worker_peak_rss_mib": mib(run.worker_peak_kib),
            "worker_rss_at_end_mib": mib(run.worker_rss_kib),
            "active_subjects": active,
            "bytes_per_active_subject": round(per_subject),
            "envelopes": run.records,
            "ingest_envelopes_per_s": round(run.rate, 1),
        }
        result.baselines = {"worker_rss_at_rest_mib": mib(run.idle_rss_kib)}
        result.ratios = {"peak_vs_rest": round(run.worker_peak_kib / max(1, run.idle_rss_kib), 2)}
        result.row(
            f"worker peak {mib(run.worker_peak_kib):,.0f} MiB ({active:,} active subjects)",
            f"worker at rest {mib(run.idle_rss_kib):,.0f} MiB",
            f"{result.ratios['peak_vs_rest']}× ({per_subject / 1024:.1f} KiB/subject)",
            "none set",
            None,
        )
        if not args.no_server:
            plans = [dataset.world.plan_file(i).key for i in range(spec.wards)]
            try:
                served = serve_them(db, plans)
            except RuntimeError as error:  # the server did not come up: keep the worker's figures
                served = {"error": str(error)}
                result.notes.append(f"lienthong serve failed on this store: {error}")
            result.figures["api_server"] = served
            result.row(
                f"API server peak {served['peak_rss_mib']:,.0f} MiB"
                f" (after start {served['rss_after_start_mib']:,.0f} MiB)"
                if "error" not in served
                else "API server: did not start on this store (see notes)",
                "-",
                "-",
                "none set",
                None,
            )
        result.settings = {
            "worker": "python -m services.cli ingest-worker",
            "server": "lienthong serve",
        }
        result.dataset = dataset.describe(subjects)
        result.write(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
