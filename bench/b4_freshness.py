"""B4 — freshness: from publishing a report to seeing it in a query, p50/p99, while
1,000 events/s of background load are stored.

- The API server (``lienthong serve``, live views in memory) runs in a process of
  its own on the embedded PostgreSQL with the four seed plans.
- **Background load**: another process stores contributions to the seed plans' tasks
  the way the ingest worker stores a partition's batches (one writer keeping its
  aggregates, one transaction per batch), at ``--rate`` events/s in ten batches a second.
- **Probes**, after ``--warmup`` seconds of load (the first seconds after the server
  starts are slower: see the README), one every ``--interval`` seconds, each timed
  from just before the
  report is written until a query shows it:
  ``store`` — the report stored directly (as the ingest worker would), timed until
  the live views publish the task's new row (observed through ``WatchService``, which
  is handed a batch in the same step that makes it visible to queries), then one
  ``GetTask`` that must show it;
  ``grpc`` — the report published through ``IngestService/Publish`` (which answers
  once the views hold it), then one ``GetTask`` that must show it.

Over mutual TLS, signed: the server runs with a throwaway authority's certificate
(``bench/serving.py``: every seed agency's certificate, their keys registered in the
store); the prober calls with the health post's certificate and signs each envelope
with its key (ECDSA P-256) just before the clock starts — signing is the agency's
cost (B6 states it per envelope) —, so the server's check of the caller and of the
signature is inside the timed section. ``--plaintext`` runs it the old way (unsigned,
the development flag).

Target: p99 ≤ 300 ms. Writes ``bench/results/b4_freshness.json``.

    python -m bench.b4_freshness                    # 200 probes of each kind
    python -m bench.b4_freshness --probes 50        # a quick look
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from lienthong.v1 import (
    envelope_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)
from lienthong.v1 import plan_service_pb2 as pb

from bench.serving import (
    api_server,
    client_channel,
    database_url,
    identities,
    identity,
    seeded_store,
    write_result,
)
from domain.errors import DomainError
from lienthong_sdk.identity import Signer
from services.app.clock import ward_today
from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, submit
from services.store.database import parse_database_url

PLAN = "phuoc-binh-2026"
PROBE_TASK = f"{PLAN}/task/24"  # led by the health post; the police coordinate
STORE_PROBER = "phuoc-binh.police"
GRPC_PROBER = "phuoc-binh.health-post"
TARGET_P99_MS = 300.0
DEADLINE_SECONDS = 10.0
WRITES: list[float] = []  # how long each store probe's write took


# Background load (a process of its own) --------------------------------------------


def writable_tasks(app: Ledger, cache: dict[Any, Any]) -> list[tuple[str, Actor]]:
    """Every open task of the seed plans its first lead may report on (but the probe's)."""
    found = []
    for plan in app.plan_keys():
        for task in app.tasks_of(plan):
            name = f"{plan}/task/{task.key}"
            if task.group or not task.lead or name == PROBE_TASK:
                continue
            actor = Actor(agency=task.lead[0], channel="bench")
            try:
                app.prepare("contribution_reported", name, actor, report(1), cache=cache)
            except DomainError:
                continue
            found.append((name, actor))
    return found


def report(percent: int) -> dict[str, Any]:
    return {"percent": percent, "as_of": ward_today()}


def background(url: str, rate: int, seconds: float) -> None:
    """Store ``rate`` events/s in ten batches a second for ``seconds``; print the rate."""
    app = Ledger(env=parse_database_url(url).eventsourcing_env())
    cache: dict[Any, Any] = {}
    tasks = writable_tasks(app, cache)
    app.save(*cache.values())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    per_batch, written, index = max(rate // 10, 1), 0, 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds and not stop.is_set():
        touched = {}
        for _ in range(per_batch):
            name, actor = tasks[index % len(tasks)]
            index += 1
            aggregate = app.prepare(
                "contribution_reported", name, actor, report(index % 100), cache=cache
            )
            touched[aggregate.id] = aggregate
        app.save(*touched.values())
        written += per_batch
        ahead = written / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    print(f"{written / elapsed:.1f}", flush=True)  # noqa: T201


# Probes ----------------------------------------------------------------------------


def version_of(plans: plan_service_pb2_grpc.PlanServiceStub) -> int:
    return int(plans.GetTask(pb.GetTaskRequest(name=PROBE_TASK), timeout=5).task.version)


class Watcher:
    """The probe task's rows as ``WatchService`` streams them from the task_status
    view: when each version became visible (no polling load on the server)."""

    def __init__(self, channel: grpc.Channel) -> None:
        watch = watch_service_pb2_grpc.WatchServiceStub(channel)
        request = watch_service_pb2.WatchChangesRequest(
            plan_id=PLAN, view="task_status", initial_rows=True
        )
        self.stream = watch.WatchChanges(request)
        self.seen: dict[int, float] = {}
        self.changed = threading.Condition()
        next(self.stream)  # the rows as they stand: subscribed
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        try:
            for response in self.stream:
                if response.change.key == PROBE_TASK:
                    with self.changed:
                        version = int(response.change.row["version"])
                        self.seen.setdefault(version, time.perf_counter())
                        self.changed.notify_all()
        except grpc.RpcError:
            return

    def visible_at(self, version: int) -> float:
        with self.changed:
            if not self.changed.wait_for(
                lambda: max(self.seen, default=0) >= version, DEADLINE_SECONDS
            ):
                msg = f"version {version} of {PROBE_TASK} not seen in {DEADLINE_SECONDS} s"
                raise RuntimeError(msg)
            return min(t for v, t in self.seen.items() if v >= version)

    def close(self) -> None:
        self.stream.cancel()


def store_probe(
    app: Ledger, plans: plan_service_pb2_grpc.PlanServiceStub, watcher: Watcher, n: int
) -> float:
    """Seconds from storing a report until the views hold it (then GetTask shows it)."""
    start = time.perf_counter()
    actor = Actor(STORE_PROBER, channel="bench")
    command = Command(
        str(uuid.uuid4()), "contribution_reported", PROBE_TASK, actor, report(n % 100)
    )
    version = submit(app, command).subject_version
    WRITES.append(time.perf_counter() - start)
    visible = watcher.visible_at(version)
    if version_of(plans) < version:
        msg = f"the views streamed version {version} but GetTask does not show it"
        raise RuntimeError(msg)
    return visible - start


def grpc_probe(
    channel: grpc.Channel, plans: plan_service_pb2_grpc.PlanServiceStub, signer: Signer | None
) -> float:
    """Seconds from publishing a report through the API until GetTask shows it (the
    envelope signed before the clock starts)."""
    envelope = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id=GRPC_PROBER, subject=PROBE_TASK
    )
    envelope.occurred_at.GetCurrentTime()
    envelope.contribution_reported.CopyFrom(
        envelope_pb2.ContributionReported(percent=50, as_of=ward_today().isoformat())
    )
    if signer is not None:
        signer.sign(envelope)
    ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
    start = time.perf_counter()
    verdict = ingest.Publish(ingest_service_pb2.PublishRequest(envelope=envelope), timeout=10)
    version = verdict.verdict.subject_version
    if version_of(plans) < version:
        msg = f"Publish answered before GetTask showed version {version}"
        raise RuntimeError(msg)
    return time.perf_counter() - start


def figures(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "probes": len(ms),
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of load before probing")
    parser.add_argument("--plaintext", action="store_true", help="no TLS, unsigned envelopes")
    parser.add_argument("--note", default="", help="a note kept with the result")
    parser.add_argument("--background", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.background:
        background(args.background, args.rate, args.seconds)
        return 0
    load_seconds = 2 * args.probes * (args.interval + 0.5) + args.warmup + 30
    with seeded_store() as (db, app), tempfile.TemporaryDirectory() as folder:
        pki = None if args.plaintext else identities(app, Path(folder) / "pki")
        prober = None if pki is None else identity(pki, GRPC_PROBER)
        signer = None if prober is None else prober.signer()
        with api_server(db, pki) as address:
            loader = subprocess.Popen(  # noqa: S603
                [
                    *(sys.executable, "-m", "bench.b4_freshness", "--background", database_url(db)),
                    *(f"--rate={args.rate}", f"--seconds={load_seconds}"),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            with client_channel(address, prober) as channel:
                plans = plan_service_pb2_grpc.PlanServiceStub(channel)
                time.sleep(args.warmup)  # the load under way (and the views warm) first
                store, through_api = [], []
                watcher = Watcher(channel)
                for n in range(args.probes):
                    store.append(store_probe(app, plans, watcher, n))
                    time.sleep(args.interval)
                watcher.close()
                for _ in range(args.probes):
                    through_api.append(grpc_probe(channel, plans, signer))
                    time.sleep(args.interval)
            loader.terminate()
            output, _ = loader.communicate(timeout=30)
    result: dict[str, Any] = {
        "store_to_query": figures(store),
        "publish_to_query": figures(through_api),
        "store_probe_write": figures(WRITES),
        "background_events_per_s": float(output.strip() or 0),
        "target_p99_ms": TARGET_P99_MS,
        "settings": vars(args),
        "dataset": "the four seed plans; load: contributions to their tasks",
        "note": args.note,
        "transport": (
            "plaintext, unsigned"
            if args.plaintext
            else "mutual TLS as the health post (its certificate), each envelope signed"
            " (ECDSA P-256, certificate attached) before the clock starts"
        ),
    }
    worst = max(result["store_to_query"]["p99_ms"], result["publish_to_query"]["p99_ms"])
    result["meets_target"] = worst <= TARGET_P99_MS
    path = write_result("b4_freshness", result)
    for kind in ("store_to_query", "publish_to_query"):
        f = result[kind]
        print(f"B4 {kind}: p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms")  # noqa: T201
    print(  # noqa: T201
        f"   under {result['background_events_per_s']} events/s of background load — "
        f"{'met' if result['meets_target'] else 'MISSED'}; wrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
