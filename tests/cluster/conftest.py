"""Fixtures of the cluster tests: one real 3-broker KRaft cluster (``deploy/kafka/kafka.sh``
with LIENTHONG_KAFKA_BROKERS=3) for the whole run, fresh topics per test (replication 3,
``min.insync.replicas`` 2), a store with the four plans and every agency's signing key.

These tests start three brokers and kill them; they run by ``make test-cluster``
(LIENTHONG_TEST_CLUSTER=1), not by ``make test``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.kafka.topics import ensure_topics, replicas
from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.kafka.topics import TOPICS
from tests.conftest import PLANS, REGISTRY
from tests.identities import enrol
from tests.kafka.test_ingestion import wait_for
from tests.kafka_broker import (
    CLUSTER_BROKERS,
    START_TIMEOUT_S,
    cluster_sh,
    free_port_run,
    kill_node,
    node_bootstrap,
    running_cluster,
)

ENABLE_ENV = "LIENTHONG_TEST_CLUSTER"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    if os.environ.get(ENABLE_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"a 3-broker cluster: `make test-cluster` ({ENABLE_ENV}=1)")
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(skip)


@dataclass
class Cluster:
    """The running cluster: its home, node 1's port, the bootstrap list of every node."""

    home: Path
    port: int
    bootstrap: str

    def nodes(self) -> range:
        return range(1, CLUSTER_BROKERS + 1)

    def address(self, node: int) -> str:
        return node_bootstrap(self.port, node)

    def kill(self, node: int) -> None:
        kill_node(self.home, self.port, node)

    def start_all(self) -> None:
        """Start every node that is not running; returns once all brokers are registered."""
        cluster_sh(["start"], self.home, self.port, START_TIMEOUT_S)

    def fully_replicated(self, topics: list[str]) -> bool:
        """Every partition of ``topics`` has all its replicas in sync."""
        try:
            found = replicas(self.bootstrap, topics)
        except Exception:  # noqa: BLE001 - a node still starting: not yet
            return False
        return bool(found) and all(
            sorted(p["isr"]) == sorted(p["replicas"]) for p in found.values()
        )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp_path, which a concurrent pytest run may clean up under us.
    with tempfile.TemporaryDirectory(prefix="lienthong-test-cluster-") as folder:
        home, port = Path(folder), free_port_run(2 * CLUSTER_BROKERS)
        with running_cluster(home, port) as bootstrap:
            yield Cluster(home, port, bootstrap)


@pytest.fixture
def prefix(cluster: Cluster) -> Iterator[str]:
    """Fresh topics (3 replicas, min.insync.replicas 2); afterwards, every node runs again
    and every replica of them (and of the consumer offsets) is back in sync."""
    name = f"t{uuid.uuid4().hex[:8]}."
    ensure_topics(cluster.bootstrap, 6, prefix=name, replication_factor=3, min_insync_replicas=2)
    yield name
    cluster.start_all()  # the nodes a test killed
    topics = [name + topic for topic in TOPICS] + ["__consumer_offsets"]
    wait_for(lambda: cluster.fully_replicated(topics), "every replica back in sync")


@pytest.fixture
def store(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return app
