"""The Kafka broker the project starts itself (deploy/kafka/kafka.sh): it comes up, takes
Lienthong's topics, keeps keyed records in order per key, and survives a restart."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from deploy.kafka.topics import ensure_topics, partition_counts
from services.kafka.topics import AGENCY_EVENTS, TOPICS
from tests.kafka_broker import SCRIPT, broker_env, free_port_pair, restart, running_broker

DEADLINE_S = 30.0
SUBJECTS = ("phuoc-binh-2026/task/1", "phuoc-binh-2026/task/2", "phuoc-binh-2026/task/24")


@pytest.fixture(scope="module")
def broker() -> Iterator[tuple[Path, int, str]]:
    # Not under pytest's tmp_path, which a concurrent pytest run may clean up under us.
    with tempfile.TemporaryDirectory(prefix="lienthong-test-kafka-") as folder:
        home, port = Path(folder), free_port_pair()
        with running_broker(home, port) as bootstrap:
            yield home, port, bootstrap


def produce(bootstrap: str, records: list[tuple[str, str]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [
            producer.send(AGENCY_EVENTS, key=key.encode(), value=value.encode())
            for key, value in records
        ]
        producer.flush(timeout=DEADLINE_S)
        for future in futures:
            future.get(timeout=DEADLINE_S)  # raises if the broker refused the record
    finally:
        producer.close(timeout=DEADLINE_S)


def consume_all(bootstrap: str, expected: int) -> list[tuple[int, int, str, str]]:
    """(partition, offset, key, value) of every record of agency-events, from the start,
    once there are ``expected`` of them; fails after the deadline."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partitions = consumer.partitions_for_topic(AGENCY_EVENTS) or set()
        consumer.assign([TopicPartition(AGENCY_EVENTS, p) for p in sorted(partitions)])
        records: list[tuple[int, int, str, str]] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(records) < expected:
            assert time.monotonic() < deadline, f"only {len(records)} of {expected} records"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(
                    (r.partition, r.offset, r.key.decode(), r.value.decode()) for r in batch
                )
        return records
    finally:
        consumer.close(autocommit=False)


def by_key(records: list[tuple[int, int, str, str]]) -> dict[str, list[tuple[int, str]]]:
    """Per key: (partition, value) in offset order within each partition."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for partition, _offset, key, value in sorted(records):
        grouped[key].append((partition, value))
    return grouped


def test_topics_are_created_once_with_six_partitions(broker: tuple[Path, int, str]) -> None:
    _home, _port, bootstrap = broker
    assert set(ensure_topics(bootstrap)) <= set(TOPICS)  # all of them on a fresh broker
    assert partition_counts(bootstrap) == dict.fromkeys(TOPICS, 6)
    assert ensure_topics(bootstrap) == []  # idempotent


def test_kafka_sh_topics_creates_the_topics_under_the_configured_prefix(
    broker: tuple[Path, int, str],
) -> None:
    home, port, bootstrap = broker
    env = {**broker_env(home, port), "LIENTHONG_TOPIC_PREFIX": "sh."}
    subprocess.run([str(SCRIPT), "topics"], env=env, check=True, capture_output=True)
    names = [f"sh.{name}" for name in TOPICS]
    assert partition_counts(bootstrap, names) == dict.fromkeys(names, 6)


def test_keyed_records_come_back_in_order_per_key_and_survive_a_restart(
    broker: tuple[Path, int, str],
) -> None:
    home, port, bootstrap = broker
    ensure_topics(bootstrap)
    sent = [(SUBJECTS[i % len(SUBJECTS)], f"event-{i}") for i in range(10)]
    produce(bootstrap, sent)

    records = consume_all(bootstrap, len(sent))
    assert len(records) == len(sent)
    grouped = by_key(records)
    for subject in SUBJECTS:
        partitions = {partition for partition, _ in grouped[subject]}
        assert len(partitions) == 1, f"{subject} spread over partitions {partitions}"
        assert [value for _, value in grouped[subject]] == [v for k, v in sent if k == subject]

    bootstrap = restart(home, port)
    more = [(SUBJECTS[0], "event-after-restart")]
    produce(bootstrap, more)
    after = by_key(consume_all(bootstrap, len(sent) + 1))
    assert [value for _, value in after[SUBJECTS[0]]] == [
        v for k, v in sent + more if k == SUBJECTS[0]
    ]
    assert {p for p, _ in after[SUBJECTS[0]]} == {p for p, _ in grouped[SUBJECTS[0]]}
