"""B3 — queries under load from ghz: the consolidated plan status
(``PlanService/GetPlanStatus``) and the task listing (``PlanService/ListTasks``).

- **Subject**: ``lienthong serve`` on the embedded PostgreSQL with the four seed
  plans (answers from the live views' in-memory rows), in a process of its own.
- **Baseline**: a trivial grpc.aio server (:mod:`bench.trivial_server`) answering the
  same calls with the same responses, captured from the subject, doing nothing else.

Each is driven by ghz twice per call: as fast as it goes (``--rps`` unset) for the
maximum requests/s, and at a fixed 1,000 requests/s (issue 17's operating point;
2,000 before) for p50/p99 latency. Targets: p99 ≤ 5 ms at
1,000 requests/s; maximum requests/s ≥ 70% of the trivial server's.
Writes ``bench/results/b3_queries.json``.

    python -m bench.b3_queries                 # 10 s per run
    python -m bench.b3_queries --seconds 3     # a quick look
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
from lienthong.v1 import plan_service_pb2 as pb
from lienthong.v1 import plan_service_pb2_grpc

from bench.serving import api_server, protoset, run_ghz, seeded_store, server_process, write_result

PLAN = "phuoc-binh-2026"
AS_OF = "2026-04-01"
CALLS = {
    "plan_status": ("lienthong.v1.PlanService.GetPlanStatus", {"plan_id": PLAN, "as_of": AS_OF}),
    "task_listing": ("lienthong.v1.PlanService.ListTasks", {"plan_id": PLAN, "as_of": AS_OF}),
}
TARGET_P99_MS = 5.0
TARGET_RATIO = 0.7


def capture(address: str, folder: Path) -> None:
    """The subject's responses, for the trivial server to give back."""
    with grpc.insecure_channel(address) as channel:
        stub = plan_service_pb2_grpc.PlanServiceStub(channel)
        status = stub.GetPlanStatus(pb.GetPlanStatusRequest(plan_id=PLAN, as_of=AS_OF))
        tasks = stub.ListTasks(pb.ListTasksRequest(plan_id=PLAN, as_of=AS_OF))
    (folder / "GetPlanStatus.bin").write_bytes(status.SerializeToString())
    (folder / "ListTasks.bin").write_bytes(tasks.SerializeToString())


def measure(address: str, descriptors: Path, args: argparse.Namespace) -> dict[str, Any]:
    found = {}
    for name, (call, data) in CALLS.items():
        found[name] = {
            "max": run_ghz(
                address, descriptors, call, data, rps=0, concurrency=50, seconds=args.seconds
            ),
            "at_rate": run_ghz(
                address,
                descriptors,
                call,
                data,
                rps=args.rps,
                concurrency=args.concurrency,
                seconds=args.seconds,
            ),
        }
        print(f"  {name}: {found[name]}", file=sys.stderr)  # noqa: T201
    return found


def verdicts(subject: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in CALLS:
        ratio = subject[name]["max"]["rps"] / baseline[name]["max"]["rps"]
        p99 = subject[name]["at_rate"]["p99_ms"]
        out[name] = {
            "max_rps": subject[name]["max"]["rps"],
            "trivial_max_rps": baseline[name]["max"]["rps"],
            "ratio": round(ratio, 3),
            "p50_ms_at_rate": subject[name]["at_rate"]["p50_ms"],
            "p99_ms_at_rate": p99,
            "trivial_p99_ms_at_rate": baseline[name]["at_rate"]["p99_ms"],
            "meets_target": p99 <= TARGET_P99_MS and ratio >= TARGET_RATIO,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, seeded_store() as (db, _app):
        folder = Path(tmp)
        descriptors = protoset(folder)
        with api_server(db) as address:
            capture(address, folder)
            print("subject: lienthong serve", file=sys.stderr)  # noqa: T201
            subject = measure(address, descriptors, args)
        trivial = [sys.executable, "-m", "bench.trivial_server", str(folder)]
        with server_process(trivial) as address:
            print("baseline: trivial grpc.aio server", file=sys.stderr)  # noqa: T201
            baseline = measure(address, descriptors, args)
    summary = verdicts(subject, baseline)
    path = write_result(
        "b3_queries",
        {
            "summary": summary,
            "subject": subject,
            "baseline": baseline,
            "targets": {
                f"p99_ms_at_{args.rps}_rps": TARGET_P99_MS,
                "ratio_of_trivial_max": TARGET_RATIO,
            },
            "settings": vars(args),
            "dataset": "the four seed plans (data/plans), plan phuoc-binh-2026, as_of 2026-04-01",
        },
    )
    for name, figures in summary.items():
        verdict = "met" if figures["meets_target"] else "MISSED"
        print(  # noqa: T201
            f"B3 {name}: {figures['max_rps']:.0f} req/s max ({figures['ratio']:.0%} of trivial "
            f"{figures['trivial_max_rps']:.0f}); at {args.rps}/s p50 {figures['p50_ms_at_rate']} ms"
            f" p99 {figures['p99_ms_at_rate']} ms — {verdict}"
        )
    print(f"wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
