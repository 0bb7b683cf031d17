"""Full mode on a real broker: ``lienthong run`` — the API publishing through Kafka, the
ingest worker and the relay — answers Publish with the store's verdict."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaConsumer
from lienthong.v1 import resources_pb2

from lienthong_sdk.client import AgencyClient
from services.app.ledger import Ledger
from services.store.database import Database
from tests.kafka.test_ingestion import DEADLINE_S, PB, database_url

READY_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def full_mode(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> Iterator[str]:
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_KAFKA_BOOTSTRAP": broker[2],
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_INGEST_GROUP": f"{prefix}ingest",
        "LIENTHONG_GRPC_ADDRESS": address,
        "LIENTHONG_VERDICT_WAIT_SECONDS": "60",
    }
    with (tmp_path / "full.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=READY_S)
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=READY_S
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_S)


def test_publish_in_full_mode_goes_through_kafka_and_returns_the_stores_verdict(
    full_mode: str, store: Ledger, broker: tuple[Path, int, str], prefix: str
) -> None:
    with AgencyClient(full_mode, "phuoc-binh.health-post", retries=8) as client:
        accepted = client.report_progress(f"{PB}/task/24", 30, dt.date(2026, 3, 2))
        refused = AgencyClient(full_mode, "phuoc-binh.vhxh").report_progress(
            f"{PB}/task/24", 40, dt.date(2026, 3, 2)
        )
    assert (accepted.outcome, accepted.subject_version) == ("accepted", 2)
    assert accepted.position == store.position(store.item(f"{PB}/task/24").id, 2)
    assert (refused.outcome, refused.reason_code) == ("rejected", "NOT_LEAD_UNIT")
    consumer = KafkaConsumer(
        f"{prefix}agency-events",
        bootstrap_servers=broker[2],
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(DEADLINE_S * 1000),
    )
    first = next(iter(consumer))
    consumer.close()
    assert first.key == f"{PB}/task/24".encode()
    outbound = KafkaConsumer(
        f"{prefix}coordination-events",
        bootstrap_servers=broker[2],
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(DEADLINE_S * 1000),
    )
    published = []
    for record in outbound:
        published.append(resources_pb2.AuditEvent.FromString(record.value))
        if any(e.topic == "lienthong.task.ProgressReported" for e in published):
            break
    outbound.close()
    assert any(
        e.topic == "lienthong.task.ProgressReported" and e.actor == "phuoc-binh.health-post"
        for e in published
    )
