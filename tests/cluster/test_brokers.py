"""A broker, and the active controller, killed (-9) mid-run in a 3-broker cluster, with the
ingest worker and the relay in processes of their own on a real PostgreSQL: the pipeline
goes on while the node is down (writes acknowledged by the two others, partitions led by
them), every event id is stored exactly once, and the relay delivers every position of
the log to ``coordination-events``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.kafka.topics import active_controller, replicas
from services.app.ledger import Ledger
from services.kafka.topics import AGENCY_EVENTS, COORDINATION_EVENTS
from services.store.database import Database
from tests.cluster.conftest import Cluster
from tests.kafka.test_faults import (
    Relay,
    assert_every_event_id_once,
    deduplicated,
    receipt_count,
    relay_position,
)
from tests.kafka.test_ingestion import Worker, keyed, many_envelopes, produce, wait_for

ENVELOPES = 3_000


@pytest.fixture
def worker(
    store: Ledger, database: Database, cluster: Cluster, prefix: str, tmp_path: Path
) -> Iterator[Worker]:
    running = Worker(database, cluster.bootstrap, prefix, tmp_path / "worker.log")
    running.start()
    relay = Relay({**running.env}, tmp_path / "relay.log")
    relay.start()
    yield running
    relay.stop()
    running.stop()


def controller_other_than(cluster: Cluster, node: int) -> bool:
    try:
        return active_controller(cluster.bootstrap) not in {node, -1}
    except Exception:  # noqa: BLE001 - no leader elected yet
        return False


def leads_nothing(cluster: Cluster, topic: str, node: int) -> bool:
    """No partition of ``topic`` is led by ``node`` (its leaderships moved)."""
    try:
        return all(p["leader"] != node for p in replicas(cluster.bootstrap, [topic]).values())
    except Exception:  # noqa: BLE001 - metadata not answered yet
        return False


def run_with_a_node_killed(  # noqa: PLR0917
    cluster: Cluster,
    store: Ledger,
    database: Database,
    prefix: str,
    victim_of: Callable[[Cluster, str], int],
    seed: int,
) -> tuple[int, list[object]]:
    """Produce half the envelopes, kill the node ``victim_of(cluster, topic)`` names once
    the run is under way, produce the other half while it is down, and wait for a receipt
    per envelope, and for every position of the log relayed once (after dropping the
    repeats), while it is still down. The victim and what was sent."""
    topic = f"{prefix}{AGENCY_EVENTS}"
    first = many_envelopes(ENVELOPES // 2, seed=seed)
    second = many_envelopes(ENVELOPES // 2, seed=seed + 1)
    produce(cluster.bootstrap, topic, [keyed(m) for m in first])
    wait_for(lambda: receipt_count(database) >= ENVELOPES // 6, "the run under way")
    victim = victim_of(cluster, topic)
    cluster.kill(victim)
    # Producers and the worker go on with the two others (acks=all: 2 in sync suffice).
    produce(cluster.bootstrap, topic, [keyed(m) for m in second])
    wait_for(lambda: receipt_count(database) >= ENVELOPES, "a receipt per envelope")
    last = store.recorder.max_notification_id() or 0
    wait_for(lambda: relay_position(store, prefix) >= last, "the whole log relayed")
    seen = deduplicated(cluster.bootstrap, f"{prefix}{COORDINATION_EVENTS}", last)
    assert sorted(p for positions in seen.values() for p in positions) == list(range(1, last + 1))
    assert not cluster_node_running(cluster, victim)  # all the while without it
    return victim, [*first, *second]


def cluster_node_running(cluster: Cluster, node: int) -> bool:
    pid_file = cluster.home / f"broker-{node}" / "broker.pid"
    return pid_file.exists()


def a_leader_not_the_controller(cluster: Cluster, topic: str) -> int:
    controller = active_controller(cluster.bootstrap)
    leaders = {int(p["leader"]) for p in replicas(cluster.bootstrap, [topic]).values()}
    candidates = sorted(leaders - {controller})
    assert candidates, f"every partition of {topic} is led by the controller {controller}"
    return candidates[0]


def the_active_controller(cluster: Cluster, topic: str) -> int:
    del topic
    return active_controller(cluster.bootstrap)


def test_kill_9_of_a_broker_leading_partitions_mid_run_loses_and_doubles_nothing(
    worker: Worker, store: Ledger, database: Database, cluster: Cluster, prefix: str
) -> None:
    victim, sent = run_with_a_node_killed(
        cluster, store, database, prefix, a_leader_not_the_controller, seed=31
    )
    assert leads_nothing(cluster, f"{prefix}{AGENCY_EVENTS}", victim)
    assert_every_event_id_once(database, sent)


def test_kill_9_of_the_active_controller_mid_run_loses_and_doubles_nothing(
    worker: Worker, store: Ledger, database: Database, cluster: Cluster, prefix: str
) -> None:
    victim, sent = run_with_a_node_killed(
        cluster, store, database, prefix, the_active_controller, seed=41
    )
    assert controller_other_than(cluster, victim)  # a new controller was elected
    assert_every_event_id_once(database, sent)
