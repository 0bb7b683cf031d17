"""Full mode on a real broker: ``lienthong run`` — the API publishing through Kafka, the
ingest worker, the relay, the checkpointer and the reminders — answers Publish with the store's verdict; the API's wait
for that verdict is woken by its live views, not a timer."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaConsumer, TopicPartition
from lienthong.v1 import envelope_pb2, ingest_service_pb2, ingest_service_pb2_grpc, resources_pb2

from domain.messages import vietnamese
from domain.submission import Submission
from lienthong_sdk import envelopes
from lienthong_sdk.client import AgencyClient
from projections.engine.live import LiveViews
from services.app.audit import load_signer
from services.app.ledger import Ledger
from services.app.notes import Checkpoint
from services.app.submissions import receipt_of
from services.grpc.ingest import Forwarding
from services.grpc.server import start_server
from services.kafka import submit
from services.kafka.submit import KafkaSubmitter
from services.kafka.topics import REMINDERS, kafka_producer
from services.store.database import Database
from services.supervisor import CHILDREN
from tests.e2e.conftest import tls_settings
from tests.identities import folder, identity, signer
from tests.kafka.test_ingestion import (
    DEADLINE_S,
    PB,
    POLL_S,
    Worker,
    database_url,
    envelope,
    receipt_count,
    wait_for,
)
from tests.metrics import labelled, scrape, value

READY_S = 120
HEALTH = "phuoc-binh.health-post"
LISTENING = re.compile(r"gRPC API on (\S+:\d+)")


def full_mode_log_key(tmp_path: Path) -> Path:
    return tmp_path / "log.key"


@pytest.fixture
def full_mode(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> Iterator[str]:
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_KAFKA_BOOTSTRAP": broker[2],
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_INGEST_GROUP": f"{prefix}ingest",
        "LIENTHONG_GRPC_ADDRESS": "127.0.0.1:0",  # the server picks a free port and prints it
        "LIENTHONG_HEALTH_ADDRESS": "127.0.0.1:0",  # each child's health: a free port, logged
        "LIENTHONG_VERDICT_WAIT_SECONDS": "60",
        "LIENTHONG_TRUST_ANCHORS": str(folder() / "ca.pem"),
        "LIENTHONG_PKI_DIR": str(folder()),  # the server's certificate and key
        "LIENTHONG_LOG_KEY_FILE": str(full_mode_log_key(tmp_path)),  # the checkpointer's
    }
    with (tmp_path / "full.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield wait_until_serving(process, tmp_path / "full.log")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_S)


def serving(address: str) -> bool:
    """The API at ``address`` answers its health check SERVING (False while it cannot)."""
    with identity("operator").secure_channel(address) as channel:
        try:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2, wait_for_ready=True
            )
        except grpc.RpcError:
            return False
    return health.status == health_pb2.HealthCheckResponse.SERVING


def wait_until_serving(process: subprocess.Popen[bytes], log: Path) -> str:
    """The address full mode serves on, once it answers SERVING; fails with its log
    if it exits or takes too long."""
    deadline = time.monotonic() + READY_S
    while True:
        printed = LISTENING.search(log.read_text(errors="replace"))
        if printed and serving(printed[1]):
            return printed[1]
        if process.poll() is not None or time.monotonic() > deadline:
            state = (
                f"exited with {process.returncode}"
                if process.poll() is not None
                else (f"did not serve in {READY_S} s")
            )
            tail = log.read_text(errors="replace")[-4000:]
            pytest.fail(f"lienthong run {state}; its log ends:\n{tail}")
        time.sleep(POLL_S)


def test_publish_in_full_mode_goes_through_kafka_and_returns_the_stores_verdict(
    full_mode: str, store: Ledger, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    def report(percent: int, task: str = "24") -> envelope_pb2.AgencyEventEnvelope:
        return envelopes.progress_reported(
            f"{PB}/task/{task}", percent=percent, as_of=dt.date(2026, 3, 2), agency_id=HEALTH
        )

    with AgencyClient(full_mode, HEALTH, retries=8, identity=identity(HEALTH)) as client:
        accepted = client.publish(report(30))  # signed by the client
        refused = client.publish(report(40, task="28"))  # the police's task
        # Refused by the ingest worker before any rule: the verdict comes back all the same.
        with AgencyClient(client.channel, HEALTH) as unsigning:  # same channel, no signer
            unsigned = unsigning.publish(report(90))
        impostor = client.publish(signer("phuoc-binh.police").sign(report(95)))
    assert (accepted.outcome, accepted.subject_version) == ("accepted", 2)
    assert accepted.position == store.position(store.item(f"{PB}/task/24").id, 2)
    assert (refused.outcome, refused.reason_code) == ("rejected", "NOT_LEAD_UNIT")
    # read from the receipt, the refusal is said Vietnamese first, as over gRPC
    assert refused.message.startswith(vietnamese("NOT_LEAD_UNIT") + " — ")
    assert unsigned.message.startswith(vietnamese("SIGNATURE_MISSING") + " — ")
    assert (unsigned.outcome, unsigned.reason_code) == ("rejected", "SIGNATURE_MISSING")
    assert (impostor.outcome, impostor.reason_code) == ("rejected", "KEY_NOT_OF_AGENCY")
    assert store.item_status(f"{PB}/task/24")["percent"] == 30
    consumer = KafkaConsumer(
        f"{prefix}agency-events",
        bootstrap_servers=broker[2],
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(DEADLINE_S * 1000),
    )
    keys = {record.key for record in itertools.islice(consumer, 4)}  # the four published
    consumer.close()
    assert keys == {f"{PB}/task/24".encode(), f"{PB}/task/28".encode()}  # keyed by subject
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
    # the checkpointer, a child of full mode too, publishes signed checkpoints of the log
    checkpoints = KafkaConsumer(
        f"{prefix}log-checkpoints",
        bootstrap_servers=broker[2],
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(DEADLINE_S * 1000),
    )
    first = next(iter(checkpoints))
    checkpoints.close()
    log_key = load_signer(full_mode_log_key(tmp_path)).verifier()
    assert Checkpoint.parse(log_key.verify(first.value.decode())).size > 0
    every_child_serves_its_metrics(tmp_path / "full.log", broker[2], prefix)
    # every line is JSON but the address the API prints for scripts
    text = (tmp_path / "full.log").read_text(errors="replace").splitlines()
    assert all(LISTENING.search(line) for line in text if line and not line.startswith("{"))
    # every child logs JSON lines; a submission's carry its event id and subject
    about = [line for line in json_lines(tmp_path / "full.log") if "event_id" in line]
    lines = {(line["logger"], line["event_id"], line["subject"]) for line in about}
    assert ("services.kafka.worker", accepted.event_id, f"{PB}/task/24") in lines
    assert ("services.kafka.worker", refused.event_id, f"{PB}/task/28") in lines
    assert ("services.kafka.relay", accepted.event_id, f"{PB}/task/24") in lines


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log (the children's; the rest is what they print)."""
    return [
        json.loads(line)
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]


def every_child_serves_its_metrics(log: Path, bootstrap: str, prefix: str) -> None:
    """Each child of full mode (the supervisor's five), scraped on the port it logged,
    serves its metrics: after one accepted and three rejected envelopes, once the log
    is followed; the reminders child counts what it put on the reminders topic."""
    lines = json_lines(log)
    ports = {
        line["command"]: int(line["message"].rsplit(":", 1)[1].split("/")[0])
        for line in lines
        if line["logger"] == "services.metrics"
    }
    assert set(ports) == {command[0] for command in CHILDREN}
    assert set(ports) == {"serve", "ingest-worker", "relay", "checkpointer", "reminders"}
    serve = scrape(ports["serve"])
    publish = "/lienthong.v1.IngestService/Publish"
    assert value(serve, "lienthong_grpc_request_duration_seconds_count", method=publish, code="OK")
    assert value(serve, "lienthong_grpc_refusals_total", method=publish, reason="NOT_LEAD_UNIT")
    assert labelled(serve, "lienthong_view_lag_records")

    def settled() -> bool:
        worker, relay = scrape(ports["ingest-worker"]), scrape(ports["relay"])
        checkpointer = scrape(ports["checkpointer"])
        lags = labelled(worker, "lienthong_kafka_consumer_lag_records")
        return (
            value(worker, "lienthong_submissions_total", outcome="accepted", reason="") == 1
            and value(
                worker, "lienthong_submissions_total", outcome="rejected", reason="NOT_LEAD_UNIT"
            )
            == 1
            and len(lags) == 6
            and not any(lags.values())  # the six partitions, none behind
            and (value(relay, "lienthong_relay_published_total") or 0) > 0
            and value(relay, "lienthong_relay_lag_records") == 0
            and value(checkpointer, "lienthong_tree_lag_records") == 0
            and (value(checkpointer, "lienthong_checkpoint_age_seconds") or -1) >= 0
        )

    wait_for(settled, "every child's metrics", deadline_s=60)

    # the reminders child made a pass over the log, and its counter is what the topic holds
    def reminders_passed() -> bool:
        return any(line["message"].startswith("reminders pass") for line in json_lines(log))

    def reminders_counted() -> bool:
        reminded = value(scrape(ports["reminders"]), "lienthong_reminders_published_total")
        return reminded == records_on(bootstrap, f"{prefix}{REMINDERS}")

    wait_for(reminders_passed, "the reminders child's first pass", deadline_s=60)
    wait_for(reminders_counted, "the reminders counted as the topic holds them", deadline_s=60)


@contextmanager
def api_server(app: Ledger, forwarding: Forwarding) -> Iterator[int]:
    """The gRPC server in full mode, in this process (its loop in a thread); the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    settings = tls_settings()
    started = asyncio.run_coroutine_threadsafe(start_server(app, settings, forwarding), loop)
    running = started.result(timeout=READY_S)
    try:
        yield running.port
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(1), loop).result(timeout=READY_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=READY_S)
        loop.close()


def records_on(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    count = sum(consumer.end_offsets(partitions).values())
    consumer.close()
    return count


def test_publish_waits_on_the_live_views_not_a_timer(  # noqa: PLR0917
    store: Ledger,
    database: Database,
    broker: tuple[Path, int, str],
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bootstrap, topic = broker[2], f"{prefix}agency-events"
    looks: list[str] = []

    def counted(app: Ledger, receipt_id: UUID) -> Submission | None:
        looks.append(str(receipt_id))
        return receipt_of(app, receipt_id)

    monkeypatch.setattr(submit, "receipt_of", counted)
    producer = kafka_producer(bootstrap)
    submitters: list[KafkaSubmitter] = []

    def forwarding(live: LiveViews) -> KafkaSubmitter:
        submitters.append(KafkaSubmitter(store, producer, topic, 2.0, live))
        return submitters[-1]

    worker = Worker(database, bootstrap, prefix, tmp_path / "worker.log")
    first = envelope("phuoc-binh.health-post", "24", 30)
    try:
        with (
            api_server(store, forwarding) as port,
            identity(HEALTH).secure_channel(f"127.0.0.1:{port}") as channel,
        ):
            stub = ingest_service_pb2_grpc.IngestServiceStub(channel)

            def publish(message: envelope_pb2.AgencyEventEnvelope) -> envelope_pb2.Verdict:
                request = ingest_service_pb2.PublishRequest(envelope=message)
                return stub.Publish(request, timeout=DEADLINE_S / 6).verdict

            # No worker: nothing is recorded, the views do not move, so the waiting
            # call looks for its receipt only before producing, after, and when its
            # time runs out (a poll every 20 ms would look ~100 times in 2 s).
            with pytest.raises(grpc.RpcError) as pending:
                publish(first)
            assert pending.value.code() is grpc.StatusCode.UNAVAILABLE
            assert len(looks) <= 3
            assert records_on(bootstrap, topic) == 1
            worker.start()
            wait_for(lambda: receipt_count(store) == 1, "the first envelope's receipt")
            # The receipt is there: answered at once, nothing produced again.
            again = publish(first)
            assert (again.outcome, again.first_outcome) == (
                envelope_pb2.OUTCOME_DUPLICATE,
                envelope_pb2.OUTCOME_ACCEPTED,
            )
            assert records_on(bootstrap, topic) == 1
            # Waiting far longer than the call's deadline: only the views moving, once
            # the worker recorded the verdict, can answer it in time.
            submitters[0].wait_seconds = DEADLINE_S
            second = publish(envelope("phuoc-binh.health-post", "24", 40))
            assert (second.outcome, second.subject_version) == (envelope_pb2.OUTCOME_ACCEPTED, 3)
            assert second.position == store.position(store.item(f"{PB}/task/24").id, 3)
    finally:
        worker.stop()
        producer.close()
