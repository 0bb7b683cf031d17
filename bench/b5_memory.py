"""B5 — memory and start-up: the API server of a province (100 wards) — its time to
SERVING and its resident memory — and the ingest worker's peak memory on the same load.

The worker (``lienthong ingest-worker``, its own process, as in production) joins
the consumer group on an empty topic — its resident memory at rest is the baseline —
then stores a reporting month of :mod:`bench.dataset` in which every one of the
~100,000 tasks and indicators of the synthetic wards reports at least once, so the
worker's cache holds them all; the figure is the peak (``VmHWM``) once every envelope
is stored. Then ``lienthong serve`` starts on the same store (its views caught up
before it listens), answers ``GetPlanStatus`` for every plan once, and its resident
memory after start and after serving (peak) are read the same way.

The province (issue 17, part 4): ``--wards`` synthetic wards (default 100, copied
from the four seed plans as :mod:`bench.dataset` does) with a month of history at
the national rate per ward (1.7 million events a month over ~3,300 wards: ~515
envelopes per ward, so 51,500 for 100 wards), stored through the real worker. The
server starts twice — first on a store whose views were never built (it builds every
view from the log before it listens), then again with the views in their tables,
caught up — and each time its figures are: seconds from starting ``lienthong serve``
to its health service answering SERVING, resident memory at rest (``VmRSS`` once SERVING, before any
query, and again after the queries) and its peak (``VmHWM``, after answering every
plan). Targets: start ≤ 10 s and ≤ 500 MiB resident (the peak). The worker's figures
(peak against at rest, bytes per active subject) are recorded without a target.
``--subjects N`` sizes the wards by subjects instead (the national-scale B5 of before:
``--subjects 100000 --events 110000``).

    python -m bench.b5_memory [--wards 100] [--events 51500] [--subjects N] [--no-server]
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
from bench.b1_ingest import IngestRun, run_worker, seeded, signing
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
TARGET_START_SECONDS = 10.0
TARGET_RSS_MIB = 500.0
EVENTS_PER_WARD_MONTH = 515  # 1.7 million events a month over ~3,300 wards


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
        say(f"API server serving after {started:.1f} s; resident {at_start[0] / 1024:.0f} MiB")
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
        "peak_rss_during_start_mib": mib(at_start[1]),
        "rss_after_serving_mib": mib(after[0]),
        "peak_rss_mib": mib(after[1]),
        "plans_queried": len(plans),
        "query_errors": errors,
        "query_seconds": round(seconds, 1),
    }


def server_rows(  # noqa: PLR0917 - one server's rows
    result: Result, served: dict[str, Any], how: str, wards: int, plans: int, run: IngestRun
) -> None:
    """The table rows (and targets) of one start of the API server."""
    if "error" in served:
        started = result.target(f"API server starts ({how})", 0, ">=", 1)
        result.row(
            f"API server, {how}: did not start on this store (see notes)",
            "-",
            "-",
            f"start ≤ {TARGET_START_SECONDS:g} s, ≤ {TARGET_RSS_MIB:g} MiB",
            started,
        )
        return
    start_met = result.target(
        f"{how}: start to SERVING", served["start_seconds"], "<=", TARGET_START_SECONDS, "s"
    )
    rss_met = result.target(
        f"{how}: API server peak resident", served["peak_rss_mib"], "<=", TARGET_RSS_MIB, "MiB"
    )
    result.row(
        f"API server, {wards} wards ({plans:,} plans, {run.records:,} envelopes), {how}:"
        f" SERVING after {served['start_seconds']:g} s",
        "-",
        "-",
        f"start ≤ {TARGET_START_SECONDS:g} s",
        start_met,
    )
    rest = mib(run.idle_rss_kib)
    result.row(
        f"API server, {wards} wards, {how}: peak {served['peak_rss_mib']:,.0f} MiB"
        f" (at rest {served['rss_after_start_mib']:,.0f} MiB after start,"
        f" {served['rss_after_serving_mib']:,.0f} MiB after serving)",
        f"worker at rest {rest:,.0f} MiB",
        f"{served['peak_rss_mib'] / max(0.1, rest):.1f}×",
        f"≤ {TARGET_RSS_MIB:g} MiB resident",
        rss_met,
    )


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
    parser = argparse.ArgumentParser(description="B5: start-up and memory of a province")
    parser.add_argument("--wards", type=int, default=100, help="synthetic wards (a province)")
    parser.add_argument("--subjects", type=int, default=0, help="size by subjects instead")
    parser.add_argument("--events", type=int, default=0, help="default: a month at 515/ward")
    parser.add_argument("--seed", type=int, default=57)
    parser.add_argument("--no-server", action="store_true", help="measure the worker only")
    args = parser.parse_args(argv)

    wards = wards_for(args.subjects) if args.subjects else args.wards
    events = args.events or wards * EVENTS_PER_WARD_MONTH
    spec = Spec(wards=wards, events=events, seed=args.seed)
    dataset = Dataset(spec)
    result = Result("b5_memory", "B5 memory")
    with (
        postgres_server() as server,
        kafka_broker() as broker,
        tempfile.TemporaryDirectory(prefix="lienthong-bench-b5-") as folder,
        fresh_database(server, "b5") as db,
    ):
        # Signed as agencies send them; the worker trusts the throwaway authority.
        keyring, env = signing(dataset, Path(folder))
        say(f"generating {events:,} envelopes, {spec.wards:,} synthetic wards, seed {spec.seed}")
        messages = dataset.materialise(
            lambda n: say(f"generated {n:,} envelopes") if n % 50_000 == 0 else None
        )
        subjects = len(dataset.world.subjects())
        active = len({m.key for m in messages if m.expect is Outcome.ACCEPTED})
        app = seeded(db, dataset, keyring)
        try:
            run = run_worker(db, broker, app, messages, Path(folder), idle_first=True, env=env)
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
            # First start: no view in PostgreSQL yet, the server builds every one from
            # the log. Restart: the views are in their tables, caught up to the log.
            for key, how in (("api_server", "first start"), ("api_server_restart", "restart")):
                try:
                    served = serve_them(db, plans)
                except RuntimeError as error:  # did not come up: keep the worker's figures
                    served = {"error": str(error)}
                    result.notes.append(f"lienthong serve ({how}) failed on this store: {error}")
                result.figures[key] = served
                server_rows(result, served, how, spec.wards, len(plans), run)
        result.settings = {
            "worker": "python -m services.cli ingest-worker",
            "server": "lienthong serve",
        }
        result.dataset = dataset.describe(subjects)
        result.write(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
