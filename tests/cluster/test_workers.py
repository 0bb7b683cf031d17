"""Several ingest workers, each in its own process, in one consumer group on a 3-broker
cluster and a real PostgreSQL, with rebalances mid-run (a worker started, another
killed with -9): every event id is stored exactly once, one receipt each, and every
partition's stored offset reaches its end (no record skipped)."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from services.app.ledger import Ledger
from services.kafka.ingest import tracking_name
from services.kafka.topics import AGENCY_EVENTS
from services.store.database import Database
from services.store.recorder import stored_offsets
from tests.cluster.conftest import Cluster
from tests.kafka.test_faults import assert_every_event_id_once, logged, receipt_count
from tests.kafka.test_ingestion import Worker, keyed, many_envelopes, produce, wait_for

POSITIONED = "positioned at offset"  # what a worker logs when it takes a partition


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset of every partition of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def test_three_workers_in_one_group_with_rebalances_mid_run_store_every_event_id_once(
    store: Ledger, database: Database, cluster: Cluster, prefix: str, tmp_path: Path
) -> None:
    topic = f"{prefix}{AGENCY_EVENTS}"
    workers = {
        name: Worker(database, cluster.bootstrap, prefix, tmp_path / f"{name}.log")
        for name in ("a", "b", "c")
    }
    a, b, c = workers.values()
    phases = [many_envelopes(n, seed=s) for n, s in ((3_000, 51), (1_500, 52), (1_500, 53))]
    try:
        a.start()
        b.start()
        produce(cluster.bootstrap, topic, [keyed(m) for m in phases[0]])
        wait_for(lambda: receipt_count(database) >= 300, "the run under way")
        c.start()  # joins mid-run: the group rebalances
        wait_for(lambda: logged(c.log, POSITIONED), "the third worker to take partitions")
        produce(cluster.bootstrap, topic, [keyed(m) for m in phases[1]])
        wait_for(lambda: receipt_count(database) >= 3_500, "the run under way with three")
        a.kill()  # mid-run: its partitions go to the others after the session timeout
        produce(cluster.bootstrap, topic, [keyed(m) for m in phases[2]])
        total = sum(len(p) for p in phases)
        wait_for(lambda: receipt_count(database) >= total, "a receipt per envelope")
    finally:
        for worker in workers.values():
            worker.stop()
    for worker in workers.values():
        assert logged(worker.log, POSITIONED), f"{worker.log.name} never held a partition"
    assert_every_event_id_once(database, [m for phase in phases for m in phase])
    ends = end_offsets(cluster.bootstrap, topic)
    names = {tracking_name(topic, p): end for p, end in ends.items() if end > 0}
    stored = stored_offsets(store.recorder, list(names))  # type: ignore[arg-type]
    assert stored == {name: end - 1 for name, end in names.items()}
