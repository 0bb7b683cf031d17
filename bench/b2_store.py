"""The store B2 rebuilds from: about a million events, built once per seed and size.

The world and the load come from :mod:`bench.dataset` (synthetic wards copied from
the four seed plans; a reporting month of progress, measurements, evidence, reviews,
obstacles, bad submissions and re-sent envelopes). The wards' plans and agencies are
recorded as ``lienthong plans import`` records them (the importer's own code, in
batches of wards) with every agency's key (a throwaway authority's certificates,
:mod:`bench.signing`), then the month's envelopes, signed, go through the ingest path
(:class:`services.kafka.ingest.BatchIngestor`, as the Kafka worker stores them: domain
events, receipts and the partition offsets) until the log holds ``events`` events.

The embedded PostgreSQL's data directory is kept under ``.lienthong/bench/`` (git
ignores it) and named by the builder's version, the seed and the size, so running
B2 again reuses it; a directory without the ``complete.json`` marker is a build that
did not finish and is built again.

    python -m bench.b2_store --events 1000000 --seed 57     # build (or find) it
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.dataset import Dataset, Spec, World
from bench.signing import Keyring, roles_of_world
from domain.targets import Comparator, parse_target
from domain.units import UnitKind, parse_unit
from services.app.identity import TRUST_ANCHORS_ENV
from services.app.importer import Batch, ImportReport, _prepare_plan, _register_agencies
from services.app.ledger import Cache, Ledger
from services.kafka.ingest import BatchIngestor, Record
from services.kafka.topics import AGENCY_EVENTS
from services.store.database import Database, embedded_server

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".lienthong" / "bench"
BUILDER_VERSION = 4  # 3: envelopes signed, keys registered; 4: no indicator claimed complete
TOPIC = AGENCY_EVENTS
PARTITIONS = 6
WARDS_PER_IMPORT = 1  # a larger save can stall psycopg's pipeline (see services/ingest.py)
RECORDS_PER_BATCH = 500
MESSAGES_PER_EVENT = 0.5  # envelopes the month needs per stored event (upper bound below)
MARKER = "complete.json"
SAY_EVERY = 100_000  # events between two progress lines


def spec_for(events: int, seed: int) -> Spec:
    """The load: ~100,000 subjects (fewer for a small store) reporting over a month."""
    wards = max(4, min(1952, events // 512))
    return Spec(wards=wards, events=int(events * MESSAGES_PER_EVENT) + 1000, seed=seed)


def store_dir(events: int, seed: int) -> Path:
    return CACHE / f"b2-store-v{BUILDER_VERSION}-seed{seed}-events{events}"


def log_size(app: Ledger) -> int:
    return app.recorder.max_notification_id() or 0


def import_wards(app: Ledger, world: World, say: Callable[[str], None]) -> Cache:
    """Every ward's agencies and plan, as the importer records them, a few wards a save;
    returns the recorded aggregates (this process wrote them, so it may keep them)."""
    written: Cache = {}
    for start in range(0, world.wards, WARDS_PER_IMPORT):
        wards = range(start, min(world.wards, start + WARDS_PER_IMPORT))
        batch = Batch(app, "")
        _register_agencies(batch, world.registry(wards), ImportReport())
        for index in wards:
            _prepare_plan(batch, world.plan_file(index), "")
        app.save(*batch.aggregates)
        written.update((a.id, a) for a in batch.aggregates)
        if wards.stop % 200 == 0:
            say(f"  wards {wards.stop}/{world.wards}: {log_size(app):,} events")
    return written


def unjudgeable(world: World) -> set[tuple[int, str]]:
    """(seed plan, indicator number) of indicators whose unit is a level (rank) but
    whose target is a number: the domain accepts a level measured for them, and the
    KPI view cannot judge it against the target (1.4.1.a of Bình Phước, "Thứ bậc"
    against "nhóm 10 xã/phường dẫn đầu"). Their measurements are left out of the load
    until the domain refuses them."""
    found = set()
    for index, template in enumerate(world.templates):
        for number, definition in template.plan.indicator_definitions():
            unit = definition.get("unit")
            if not unit or parse_unit(unit).kind is not UnitKind.LEVEL:
                continue
            targets = [parse_target(str(t["value"])) for t in definition.get("targets", [])]
            if any(t.comparator is not Comparator.LEVEL for t in targets):
                found.add((index, number))
    return found


def records(dataset: Dataset) -> Iterator[Record]:
    """The month's envelopes as Kafka records (partition by subject key)."""
    offsets = [0] * PARTITIONS
    skipped = unjudgeable(dataset.world)
    templates = len(dataset.world.templates)
    for message in dataset.messages():
        if skipped and message.kind == "indicator_measured":
            plan, _, number = message.key.decode().split("/", 2)
            ward = int(plan.rsplit("-w", 1)[1].split("-", 1)[0])
            if (ward % templates, number) in skipped:
                continue
        partition = zlib.crc32(message.key) % PARTITIONS
        yield Record(TOPIC, partition, offsets[partition], message.value)
        offsets[partition] += 1


def ingest(
    app: Ledger, written: Cache, dataset: Dataset, events: int, say: Callable[[str], None]
) -> int:
    """Store envelopes until the log holds at least ``events`` events; returns how many.
    The ingestor starts with the imported aggregates in memory, as a worker that wrote
    them would (the single writer of its partitions)."""
    ingestor = BatchIngestor(app)
    ingestor.aggregates.update(written)
    pending: list[Record] = []
    sent, last_said = 0, 0
    for record in records(dataset):
        pending.append(record)
        if len(pending) < RECORDS_PER_BATCH:
            continue
        ingestor.ingest(pending)
        sent += len(pending)
        pending = []
        size = log_size(app)
        if size >= events:
            break
        if size - last_said >= SAY_EVERY:
            say(f"  envelopes {sent:,}: {size:,} events")
            last_said = size
    else:
        if pending:
            ingestor.ingest(pending)
            sent += len(pending)
    return sent


@contextmanager
def fast_writes(database: Database) -> Iterator[None]:
    """Building only: commits need not wait for the disk (reset afterwards)."""
    name = sql.Identifier(database.dbname)
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(name))
    try:
        yield
    finally:
        with psycopg.connect(database.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} RESET synchronous_commit").format(name))
            conn.execute("CHECKPOINT")


def build(folder: Path, events: int, seed: int, say: Callable[[str], None]) -> dict[str, Any]:
    spec = spec_for(events, seed)
    dataset = Dataset(spec)
    started = time.perf_counter()
    keyring = Keyring(roles_of_world(dataset.world), folder / "pki")
    os.environ[TRUST_ANCHORS_ENV] = str(keyring.anchors)  # the ingest checks every signature
    dataset.sign = keyring.sign
    with embedded_server(folder) as database:
        with fast_writes(database):
            app = Ledger(env=database.eventsourcing_env())
            keyring.register(app)
            say(f"importing {spec.wards} wards' plans and agencies")
            written = import_wards(app, dataset.world, say)
            imported = log_size(app)
            say(f"ingesting the month's envelopes until {events:,} events")
            sent = ingest(app, written, dataset, events, say)
            stored = log_size(app)
            app.close()
        with psycopg.connect(database.conninfo(), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    description = {
        **dataset.describe(subjects=len(dataset.world.subjects())),
        "events_stored": stored,
        "events_from_plan_import": imported,
        "envelopes_ingested": sent,
        "builder": "bench/b2_store.py",
        "builder_version": BUILDER_VERSION,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    description.pop("counts", None)  # counts of the whole month, not of what was ingested
    (folder / MARKER).write_text(json.dumps(description, indent=2, ensure_ascii=False) + "\n")
    return description


def ensure_store(
    events: int, seed: int, say: Callable[[str], None] = print
) -> tuple[Path, dict[str, Any]]:
    """The data directory of the store (built now unless a complete one is cached)."""
    folder = store_dir(events, seed)
    marker = folder / MARKER
    if marker.exists():
        say(f"reusing the store in {folder}")
        return folder, json.loads(marker.read_text())
    if folder.exists():
        shutil.rmtree(folder)
    say(f"building the store in {folder}")
    started = time.perf_counter()

    def timed(message: str) -> None:
        say(f"[{time.perf_counter() - started:6.0f} s] {message}")

    return folder, build(folder, events, seed, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=57)
    args = parser.parse_args(argv)
    _, description = ensure_store(args.events, args.seed)
    json.dump(description, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
