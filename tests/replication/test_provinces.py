"""Two provinces on one Kafka cluster, one national rollup: each province an
installation of its own (its own store, its own LIENTHONG_TOPIC_PREFIX), its relay
publishing its log to ``<prefix>coordination-events``; ``lienthong national rollup``
reads both topics and nothing else."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from lienthong.v1 import resources_pb2
from psycopg import sql

from deploy.kafka.topics import ensure_topics
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.cli import main
from services.kafka.national import PROGRESS_REPORTED, NationalRollup
from services.kafka.relay import Relay
from services.kafka.topics import COORDINATION_EVENTS, kafka_producer
from services.store.database import Database, ensure_database
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY
from tests.kafka_broker import free_port_pair, running_broker

DAY = dt.date(2026, 2, 10)
# Province A holds Bình Phước's ward plans 000 and 001, province B 002 and 004.
PROVINCES = {
    "a": ([PLANS[0], PLANS[1]], "phuoc-binh-2026/task/24", "phuoc-binh.health-post", 30),
    "b": ([PLANS[2], PLANS[3]], "da-mai-2026/task/1", "da-mai.steering-committee", 50),
}


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory(prefix="lienthong-provinces-kafka-") as home,
        running_broker(Path(home), free_port_pair()) as address,
    ):
        yield address


@pytest.fixture
def provinces(postgres: Database) -> Iterator[dict[str, Database]]:
    """A database of its own for each province's store (dropped afterwards)."""
    databases = {
        name: ensure_database(postgres, f"test_province_{name}_{uuid.uuid4().hex[:10]}")
        for name in PROVINCES
    }
    yield databases
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        for database in databases.values():
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(database.dbname)
                )
            )


def province(database: Database, plans: list[Path]) -> Ledger:
    """A province's store with its ward plans."""
    app = Ledger(env=database.eventsourcing_env())
    import_plans(app, plans, REGISTRY)
    return app


def test_two_provinces_on_one_cluster_make_one_national_rollup(
    provinces: dict[str, Database], bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:6]
    prefixes = {name: f"{name}{run}." for name in PROVINCES}
    producer = kafka_producer(bootstrap)
    stores = {}
    try:
        for name, (plans, task, lead, percent) in PROVINCES.items():
            ensure_topics(bootstrap, 2, prefix=prefixes[name])
            app = stores[name] = province(provinces[name], plans)
            execute(
                app,
                "progress_reported",
                task,
                Actor(agency=lead),
                {"percent": percent, "as_of": DAY},
            )
            relay = Relay(app, producer, prefixes[name])
            while relay.step():
                pass
        # province A's relay restarts without its tracking: it publishes its log again
        again = Relay(stores["a"], producer, prefixes["a"])
        again.tracking += ".lost"
        assert again.step() > 0
        producer.flush()
    finally:
        producer.close()
        for app in stores.values():
            app.close()

    code = main(
        ["national", "rollup", "--provinces", ",".join(prefixes.values()), "--bootstrap", bootstrap]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    rollup = json.loads(out)
    a, b = (rollup["provinces"][prefixes[name]] for name in ("a", "b"))
    assert (len(a["plans"]), len(b["plans"])) == (2, 2)
    assert (a["tasks_reported"], a["mean_percent"]) == (1, 30.0)
    assert (b["tasks_reported"], b["mean_percent"]) == (1, 50.0)
    assert rollup["nation"] == {
        "provinces": 2,
        "plans": 4,
        "tasks_reported": 2,
        "mean_percent": 40.0,
        "records": a["records"] + b["records"],  # A's log taken once, though sent twice
    }
    assert set(a["plans"]).isdisjoint(b["plans"])


def test_a_province_whose_topic_is_missing_is_a_configuration_error(
    bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"nowhere{uuid.uuid4().hex[:6]}."
    code = main(["national", "rollup", "--provinces", missing, "--bootstrap", bootstrap])
    assert code == 2
    assert f"{missing}{COORDINATION_EVENTS}" in capsys.readouterr().err


def test_a_record_sent_again_is_taken_once() -> None:
    rollup = NationalRollup(["x."])
    record = resources_pb2.AuditEvent(position=7, subject="p/task/1", topic=PROGRESS_REPORTED)
    record.body.update({"percent": 20})
    value = record.SerializeToString()
    assert rollup.take("x.coordination-events", value) is True
    assert rollup.take("x.coordination-events", value) is False
    assert rollup.summary()["nation"]["records"] == 1
    assert rollup.summary()["nation"]["mean_percent"] == 20.0
