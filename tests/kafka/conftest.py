"""Fixtures of the Kafka tests: one real broker per module, fresh topics per test,
a store with the four plans and every agency's signing key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.kafka.topics import ensure_topics
from services.app.importer import import_plans
from services.app.ledger import Ledger
from tests.conftest import PLANS, REGISTRY
from tests.identities import enrol
from tests.kafka_broker import free_port_pair, running_broker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, str]]:
    home, port = tmp_path_factory.mktemp("kafka"), free_port_pair()
    with running_broker(home, port) as bootstrap:
        yield home, port, bootstrap


@pytest.fixture
def prefix(broker: tuple[Path, int, str]) -> str:
    name = f"t{uuid.uuid4().hex[:8]}."
    ensure_topics(broker[2], 6, prefix=name)
    return name


@pytest.fixture
def store(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return app
