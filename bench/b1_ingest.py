"""B1 — durable ingest: Kafka ``agency-events`` → the event store, offsets committed.

Subject: the real ingest worker (``lienthong ingest-worker``, a process of its own:
faust-streaming agent → :class:`services.kafka.ingest.BatchIngestor`) on a local Kafka
broker and the embedded PostgreSQL. The envelopes of :mod:`bench.dataset` (a
reporting month of synthetic wards copied from the four seed plans) are produced to
the topic first; the figure is the rate at which the store records them — domain
events, a receipt per envelope and the partitions' offsets in one transaction per
batch — from the first stored batch to the last, read from the stored offsets.

Baselines, in the same run on the same machine:

- the naive library loop: per envelope, load the aggregate, apply the one command,
  save (``services.app.submissions.submit``: one transaction per envelope with its
  receipt), over the first ``--naive`` envelopes of the same load, on a store seeded
  the same way;
- a raw PostgreSQL ``COPY`` (binary) of the very rows the ingest stored into a copy
  of the events table (same columns, same indexes).

Signed: every envelope is signed by the agency it names (ECDSA P-256, the certificate
attached, as the SDK sends it), each agency's certificate issued by a throwaway
authority and its key registered in the store before the run (``bench/signing.py``);
the worker is given that authority as its trust anchor (``LIENTHONG_TRUST_ANCHORS``),
so where the ingest checks signatures, every envelope's is checked inside the timed
section. Signing happens while the dataset is generated, outside it: it is the
agency's cost. B6 (``bench/b6_signatures.py``) states both per envelope.
There is no unsigned run: the worker refuses an unsigned envelope (``SIGNATURE_MISSING``).

Targets: ≥ 6,000 envelopes/s with signatures verified and ≥ 20× the naive loop (issue
17; ``../shared/architecture.md`` asked 20,000 events/s and 25×), ≥ 10% of COPY.
"Events" are the agencies' envelopes (each one submission); the rows the store writes
per envelope (domain events and the receipt) are reported too, and the
COPY ratio compares rows with rows.

    python -m bench.b1_ingest [--subjects 20000] [--events 200000] [--naive 3000]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import sql

from bench.dataset import Dataset, Message, Spec, seed_store, wards_for
from bench.harness import (
    Broker,
    CpuMeter,
    Every,
    Result,
    Worker,
    children,
    fresh_database,
    kafka_broker,
    postgres_pids,
    postgres_server,
    produce,
    rss_kib,
    say,
)
from bench.signing import Keyring, roles_of_world
from domain.submission import Submission
from services.app.ledger import Ledger
from services.app.submissions import record_invalid, submit
from services.kafka.ingest import Record, decode
from services.kafka.topics import AGENCY_EVENTS
from services.store.database import Database

PARTITIONS = 6
POLL_SECONDS = 0.25
STALL_SECONDS = 180.0  # no progress for this long: the run failed
TARGET_RATE = 6_000.0  # issue 17, signatures verified (architecture.md: 20,000)
TARGET_NAIVE = 20.0  # issue 17 (architecture.md: 25×)
TARGET_COPY = 0.10
WORKER_BATCH = "5000"  # LIENTHONG_INGEST_BATCH for the measured worker


@dataclass
class IngestRun:
    """What one worker run over a produced load measured."""

    records: int
    seconds: float
    rows: int
    first_row: int  # notification ids above this are the run's
    outcomes: dict[str, int]
    produce_rate: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    worker_rss_kib: int = 0
    worker_peak_kib: int = 0
    idle_rss_kib: int = 0
    curve: list[tuple[float, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def row_rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def tables(app: Ledger) -> tuple[sql.Composable, sql.Composable]:
    recorder = app.recorder
    assert isinstance(recorder, PostgresProcessRecorder)  # noqa: S101
    events = sql.Identifier(*recorder.events_table_name.split("."))
    tracking = sql.Identifier(*recorder.tracking_table_name.split("."))
    return events, tracking


def stored_records(db: Database, tracking: sql.Composable, prefix: str) -> int:
    """How many records of the topic the store holds the effect of (from the offsets)."""
    query = sql.SQL(
        "SELECT COALESCE(sum(notification_id + 1), 0) FROM {} WHERE application_name LIKE %s"
    ).format(tracking)
    with psycopg.connect(db.conninfo()) as conn:
        row = conn.execute(query, (f"{prefix}{AGENCY_EVENTS}:%",)).fetchone()
    return int(row[0]) if row else 0


def max_position(db: Database, events: sql.Composable) -> int:
    with psycopg.connect(db.conninfo()) as conn:
        row = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(events)).fetchone()
    return int(row[0] or 0) if row else 0


def receipts_by_outcome(db: Database, events: sql.Composable, after: int) -> dict[str, int]:
    query = sql.SQL(
        "SELECT topic, count(*) FROM {} WHERE notification_id > %s AND topic = ANY(%s) GROUP BY 1"
    ).format(events)
    topics = {Submission.Accepted.TOPIC: "accepted", Submission.Rejected.TOPIC: "rejected"}
    with psycopg.connect(db.conninfo()) as conn:
        rows = conn.execute(query, (after, list(topics))).fetchall()
    return {topics[topic]: int(n) for topic, n in rows}


def seeded(db: Database, dataset: Dataset, keyring: Keyring | None = None) -> Ledger:
    app = Ledger(env=db.eventsourcing_env())
    every = Every(10.0)
    start = time.monotonic()
    events = seed_store(app, dataset.world, every)
    elapsed = time.monotonic() - start
    say(f"seeded {dataset.world.wards:,} wards: {events:,} events in {elapsed:.1f} s")
    if keyring is not None:
        say(f"registered {keyring.register(app):,} agencies' keys (as operator:bench)")
    return app


def run_worker(
    db: Database,
    broker: Broker,
    app: Ledger,
    messages: list[Message],
    folder: Path,
    *,
    idle_first: bool = False,
    env: dict[str, str] | None = None,
) -> IngestRun:
    """Produce ``messages`` and let a fresh worker store them; measured from the stored
    offsets. With ``idle_first`` the worker starts first (its resident memory at rest
    is read once it has joined the group) and the envelopes are produced afterwards."""
    events, tracking = tables(app)
    first_row = max_position(db, events)
    prefix = broker.topics(PARTITIONS)
    topic = f"{prefix}{AGENCY_EVENTS}"
    worker = Worker(
        db,
        broker.bootstrap,
        prefix,
        folder / "worker.log",
        LIENTHONG_INGEST_BATCH=WORKER_BATCH,
        **(env or {}),
    )
    keyed = [(m.key, m.value) for m in messages]
    idle = 0
    produce_rate = 0.0
    try:
        if idle_first:
            worker.start()
            wait_for_log(worker, "positioned at offset")
            idle = rss_kib(worker.pid)[0]
            say(f"worker joined the group; resident memory at rest {idle / 1024:.0f} MiB")
            produce_rate = produce(broker.bootstrap, topic, keyed, len(keyed))
        else:
            produce_rate = produce(broker.bootstrap, topic, keyed, len(keyed))
            worker.start()
        meter = CpuMeter(
            {
                "worker": lambda: [worker.pid],
                # its signature helper (services/kafka/signatures.py)
                "worker_helper": lambda: children(worker.pid),
                "postgresql": postgres_pids(db),
                "kafka": broker.pid,
            }
        )
        meter.start()
        curve = follow(worker, db, tracking, prefix, len(keyed))
        cpu = meter.stop()
        current, peak = rss_kib(worker.pid)
    finally:
        worker.stop()
    batches = [int(n) for n in re.findall(r"stored (\d+) record", worker.tail(10**6))]
    (t0, c0), (t1, c1) = curve[0], curve[-1]
    rows = max_position(db, events) - first_row
    return IngestRun(
        records=c1 - c0,
        seconds=t1 - t0,
        rows=round(rows * (c1 - c0) / max(1, c1)),
        first_row=first_row,
        outcomes=receipts_by_outcome(db, events, first_row),
        produce_rate=produce_rate,
        cpu_seconds=cpu,
        batches=batches,
        worker_rss_kib=current,
        worker_peak_kib=peak,
        idle_rss_kib=idle,
        curve=curve,
    )


def wait_for_log(worker: Worker, text: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while text not in worker.tail(200):
        if not worker.alive():
            msg = f"the worker exited:\n{worker.tail()}"
            raise RuntimeError(msg)
        if time.monotonic() > deadline:
            msg = f"the worker did not log {text!r} in {seconds:g} s:\n{worker.tail()}"
            raise RuntimeError(msg)
        time.sleep(POLL_SECONDS)


def follow(
    worker: Worker, db: Database, tracking: sql.Composable, prefix: str, total: int
) -> list[tuple[float, int]]:
    """Poll the stored offsets until every record is stored: (time, records) from the
    first stored batch on."""
    curve: list[tuple[float, int]] = []
    every = Every(5.0)
    last_change = time.monotonic()
    previous = -1
    while True:
        now = time.monotonic()
        done = stored_records(db, tracking, prefix)
        if done > 0:
            curve.append((now, done))
        if done != previous:
            previous, last_change = done, now
        if curve:
            rate = (done - curve[0][1]) / max(1e-9, now - curve[0][0])
            every(f"stored {done:,}/{total:,} envelopes ({rate:,.0f}/s since the first batch)")
        if done >= total:
            return curve
        if not worker.alive():
            msg = f"the worker exited:\n{worker.tail()}"
            raise RuntimeError(msg)
        if now - last_change > STALL_SECONDS:
            msg = f"no progress for {STALL_SECONDS:g} s at {done}/{total}:\n{worker.tail()}"
            raise RuntimeError(msg)
        time.sleep(POLL_SECONDS)


def naive_loop(
    db: Database, dataset: Dataset, messages: list[Message], keyring: Keyring | None
) -> dict[str, Any]:
    """The library's one-transaction-per-envelope path over ``messages``."""
    app = seeded(db, dataset, keyring)
    try:
        decoded = [
            decode(Record(AGENCY_EVENTS, zlib.crc32(m.key) % PARTITIONS, i, m.value))
            for i, m in enumerate(messages)
        ]
        outcomes: Counter[str] = Counter()
        every = Every(5.0)
        start = time.monotonic()
        for index, item in enumerate(decoded, 1):
            if item.refusal is not None:
                verdict = record_invalid(app, item.command, item.refusal)
            else:
                verdict = submit(app, item.command)
            outcomes[verdict.outcome] += 1
            if every.due():
                say(f"naive loop: {index:,}/{len(decoded):,}")
        seconds = time.monotonic() - start
    finally:
        app.close()
    say(f"naive loop: {len(messages):,} envelopes in {seconds:.1f} s")
    return {
        "records": len(messages),
        "seconds": round(seconds, 3),
        "records_per_s": round(len(messages) / seconds, 1),
        "outcomes": dict(outcomes),
    }


def copy_baseline(db: Database, app: Ledger, first_row: int) -> dict[str, Any]:
    """``COPY`` of the rows the ingest stored into a copy of the events table."""
    events, _ = tables(app)
    copy = sql.Identifier("bench_copy_of_events")
    columns = sql.SQL("originator_id, originator_version, topic, state")
    buffer = io.BytesIO()
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(copy))
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy, events))
        out = sql.SQL(
            "COPY (SELECT {} FROM {} WHERE notification_id > %s ORDER BY notification_id)"
            " TO STDOUT (FORMAT binary)"
        ).format(columns, events)
        with conn.cursor().copy(out, (first_row,)) as source:
            for block in source:
                buffer.write(block)
        rows = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE notification_id > %s").format(events),
            (first_row,),
        ).fetchone()
        count = int(rows[0]) if rows else 0
        data = buffer.getvalue()
        start = time.monotonic()
        with conn.transaction():
            into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(copy, columns)
            with conn.cursor().copy(into) as sink:
                for offset in range(0, len(data), 1 << 20):
                    sink.write(data[offset : offset + (1 << 20)])
        seconds = time.monotonic() - start
        conn.execute(sql.SQL("DROP TABLE {}").format(copy))
    say(f"COPY: {count:,} rows ({len(data) / 2**20:.0f} MiB) in {seconds:.2f} s")
    return {
        "rows": count,
        "bytes": len(data),
        "seconds": round(seconds, 3),
        "rows_per_s": round(count / seconds, 1),
    }


def signing(dataset: Dataset, folder: Path) -> tuple[Keyring, dict[str, str]]:
    """Every agency's certificate (in a keyring whose authority is in ``folder``), the
    dataset signed by them, and the worker's settings that trust that authority."""
    keyring = Keyring(roles_of_world(dataset.world), folder)
    dataset.sign = keyring.sign
    say(f"issued {len(keyring.signers):,} agency certificates (ECDSA P-256)")
    return keyring, {
        "LIENTHONG_TRUST_ANCHORS": str(keyring.anchors),
        "LIENTHONG_PKI_DIR": str(folder),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B1: durable ingest, Kafka → event store")
    parser.add_argument(
        "--subjects", type=int, default=20_000, help="active subjects (tasks, indicators)"
    )
    parser.add_argument("--events", type=int, default=100_000, help="envelopes produced")
    parser.add_argument("--naive", type=int, default=2_000, help="envelopes the naive loop runs")
    parser.add_argument("--seed", type=int, default=57)
    parser.add_argument("--note", default="", help="a note kept with the result")
    args = parser.parse_args(argv)

    spec = Spec(wards=wards_for(args.subjects), events=args.events, seed=args.seed)
    dataset = Dataset(spec)
    result = Result("b1_ingest", "B1 durable ingest")
    with (
        postgres_server() as server,
        kafka_broker() as broker,
        tempfile.TemporaryDirectory(prefix="lienthong-bench-b1-") as folder,
    ):
        keyring, env = signing(dataset, Path(folder))
        say(f"generating {args.events:,} envelopes, {spec.wards:,} wards, seed {spec.seed}")
        start = time.monotonic()
        messages = dataset.materialise(
            lambda n: say(f"generated {n:,} envelopes") if n % 50_000 == 0 else None
        )
        generated = time.monotonic() - start
        say(f"generated {len(messages):,} envelopes in {generated:.1f} s (signing included)")
        subjects = len(dataset.world.subjects())
        with fresh_database(server, "b1") as db:
            app = seeded(db, dataset, keyring)
            try:
                run = run_worker(db, broker, app, messages, Path(folder), env=env)
                say(f"ingest: {run.records:,} envelopes in {run.seconds:.1f} s = {run.rate:,.0f}/s")
                copied = copy_baseline(db, app, run.first_row)
            finally:
                app.close()
        with fresh_database(server, "b1naive") as naive_db:
            naive = naive_loop(naive_db, dataset, messages[: args.naive], keyring)
        expected = {
            "accepted": dataset.counts.get("expect_accepted", 0),
            "rejected": dataset.counts.get("expect_rejected", 0),
        }
        rate, rows_rate = run.rate, run.row_rate
        result.figures.update(
            {
                "envelopes_per_s": round(rate, 1),
                "stored_rows_per_s": round(rows_rate, 1),
                "envelopes": run.records,
                "seconds": round(run.seconds, 2),
                "stored_rows": run.rows,
                "rows_per_envelope": round(run.rows / max(1, run.records), 3),
                "outcomes": run.outcomes,
                "expected_outcomes": expected,
                "outcomes_as_expected": run.outcomes == expected,
                "produce_envelopes_per_s": round(run.produce_rate, 1),
                "worker_batches": len(run.batches),
                "worker_mean_batch": round(sum(run.batches) / max(1, len(run.batches)), 1),
                "cpu_seconds_while_ingesting": run.cpu_seconds,
                "cpu_us_per_envelope": {
                    k: round(v * 1e6 / max(1, run.records)) for k, v in run.cpu_seconds.items()
                },
                "envelopes_per_s_if_two_cores_were_ours": round(
                    2 * run.records / max(1e-9, sum(run.cpu_seconds.values()))
                ),
                "worker_peak_rss_mib": round(run.worker_peak_kib / 1024, 1),
                "progress": [
                    (round(t - run.curve[0][0], 2), n)
                    for t, n in run.curve[:: max(1, len(run.curve) // 40)]
                ],
            }
        )
        result.baselines = {"naive_loop": naive, "copy": copied}
        naive_ratio = rate / naive["records_per_s"]
        copy_ratio = rows_rate / copied["rows_per_s"]
        result.ratios = {"vs_naive_loop": round(naive_ratio, 2), "vs_copy": round(copy_ratio, 4)}
        met_rate = result.target("envelopes/s", round(rate, 1), ">=", TARGET_RATE, "envelopes/s")
        met_naive = result.target("× naive loop", round(naive_ratio, 2), ">=", TARGET_NAIVE)
        met_copy = result.target("share of COPY", round(copy_ratio, 4), ">=", TARGET_COPY)
        result.row(f"{rate:,.0f} envelopes/s", "-", "-", f"≥ {TARGET_RATE:,.0f}/s", met_rate)
        result.row(
            f"{rate:,.0f} envelopes/s",
            f"naive loop {naive['records_per_s']:,.0f}/s",
            f"{naive_ratio:.1f}×",
            f"≥ {TARGET_NAIVE:g}×",
            met_naive,
        )
        result.row(
            f"{rows_rate:,.0f} rows/s",
            f"COPY {copied['rows_per_s']:,.0f} rows/s",
            f"{copy_ratio:.1%}",
            "≥ 10%",
            met_copy,
        )
        result.settings = {
            "partitions": PARTITIONS,
            "LIENTHONG_INGEST_BATCH": WORKER_BATCH,
            "LIENTHONG_INGEST_WITHIN_SECONDS": os.environ.get(
                "LIENTHONG_INGEST_WITHIN_SECONDS", "0.2"
            ),
            "naive_envelopes": args.naive,
            "worker": "python -m services.cli ingest-worker (and its signature helper)",
            "signed": keyring is not None,
            "signing": (
                "every envelope naming an agency signed by it (ECDSA P-256, certificate"
                " attached), before the timed section; keys registered before the run"
                if keyring is not None
                else "none"
            ),
            "generation_seconds_signing_included": round(generated, 1),
            "envelope_bytes_mean": round(sum(len(m.value) for m in messages) / len(messages)),
        }
        result.dataset = dataset.describe(subjects)
        if args.note:
            result.notes.append(args.note)
        if not result.figures["outcomes_as_expected"]:
            result.notes.append("the stored receipts differ from the dataset's expected outcomes")
        result.write(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
