"""``lienthong serve`` (embedded mode) as a real process rides out its PostgreSQL
killed with -9 mid-load and started again on the same data directory: publishers
keep sending signed envelopes throughout, each retrying an unacknowledged one with
the same event id. The server never exits; while the store is away its writes answer
UNAVAILABLE ``STORE_UNAVAILABLE`` (never UNKNOWN or INTERNAL), its health says
NOT_SERVING for ``""`` and the writing services while PlanService answers reads from
memory; once the store is back the views catch up (health SERVING again), and every
event id the server acknowledged is in the views exactly once — nothing lost, nothing
twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lienthong.v1 import (
    envelope_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
)
from psycopg import sql

from lienthong_sdk._rpc import status_of
from services.app.audit import LOG_KEY_FILE_ENV
from services.app.ledger import Ledger
from services.store.database import DATABASE_URL_ENV, database_url
from services.store.recorder import events_table
from tests import identities
from tests.conftest import ROOT
from tests.e2e.conftest import open_tls_channel, prepare
from tests.outage.conftest import CONNECT_TIMEOUT, DEADLINE, Server, wait_until

LISTENING = re.compile(rb"gRPC API on (\S+)")
PUBLISHERS = (
    ("phuoc-binh-2026/task/24", "phuoc-binh.health-post"),
    ("phuoc-binh-2026/task/9", "phuoc-binh.police"),  # task 9: every agency leads it
)
BEFORE = 10  # acknowledged per publisher before the kill
AFTER = 10  # and again after the restart
CALL_SECONDS = 60  # a bound on one call, not a timing assertion
READER = "phuoc-binh.vhxh"
WRITERS = ("lienthong.v1.IngestService", "lienthong.v1.ReviewService")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
AWAY_LINE = "live views: the database is away"
BACK_LINE = "live views: the database is back"


def envelope(subject: str, agency: str) -> ingest_service_pb2.PublishRequest:
    """A signed progress report whose note is its event id."""
    event_id = str(uuid.uuid4())
    message = envelope_pb2.AgencyEventEnvelope(event_id=event_id, agency_id=agency, subject=subject)
    message.occurred_at.FromDatetime(dt.datetime.now(dt.UTC))
    message.progress_reported.percent = 10
    message.progress_reported.as_of = "2026-02-10"
    message.progress_reported.note = event_id
    return ingest_service_pb2.PublishRequest(envelope=identities.signed(message))


def reason_of(error: grpc.RpcError) -> str:
    for detail in status_of(error).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


class Publisher:
    """Publishes envelopes on one subject as one agency, one after another, in a
    thread: an envelope not acknowledged is sent again, byte for byte (its event id),
    until it is. Keeps the ids acknowledged and every refusal (code, reason)."""

    def __init__(self, address: str, subject: str, agency: str) -> None:
        self.subject, self.agency = subject, agency
        self.channel = open_tls_channel(address, agency)
        self.stub = ingest_service_pb2_grpc.IngestServiceStub(self.channel)
        self.acked: list[str] = []
        self.refused: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        request = envelope(self.subject, self.agency)
        while not self.stopping.is_set():
            try:
                response = self.stub.Publish(request, timeout=CALL_SECONDS)
            except grpc.RpcError as error:
                self.refused.append((error.code().name, reason_of(error)))
                self.stopping.wait(0.05)  # a pause before the same envelope again
                continue
            assert response.verdict.outcome in {
                envelope_pb2.OUTCOME_ACCEPTED,
                envelope_pb2.OUTCOME_DUPLICATE,
            }, response
            self.acked.append(request.envelope.event_id)
            request = envelope(self.subject, self.agency)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=DEADLINE)
        self.channel.close()


@pytest.fixture
def store(postgres_server: Server) -> Iterator[Ledger]:
    app = Ledger(env={**postgres_server.store.eventsourcing_env(), **CONNECT_TIMEOUT})
    prepare(app)  # the four plans, every agency's key
    yield app
    app.close()


def health_of(channel: grpc.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=CALL_SECONDS)
    return int(answer.status)


def count_by_note(
    conninfo: str, table: sql.Identifier
) -> tuple[Counter[str], Counter[str], int, set[int]]:
    """Progress reports by note (= event id) in the events ``table`` and in the audit
    trail's rows; the log's last position and every view's tracked position."""
    with psycopg.connect(conninfo) as conn:
        events = conn.execute(sql.SQL("SELECT topic, state FROM {}").format(table)).fetchall()
        in_log = Counter(
            json.loads(bytes(state))["note"]
            for topic, state in events
            if topic.endswith("ProgressReported")
        )
        audit = conn.execute(
            "SELECT data->'body'->>'note' FROM view_audit_trail.rows"
            " WHERE data->>'topic' LIKE '%%ProgressReported'"
        ).fetchall()
        last = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(table))
        position = int((last.fetchone() or (0,))[0] or 0)
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'view\\_%%'"
        ).fetchall()
        tracked = {
            int(row[0])
            for (schema,) in schemas
            for row in conn.execute(
                sql.SQL("SELECT position FROM {}.tracking").format(sql.Identifier(schema))
            ).fetchall()
        }
    return in_log, Counter(note for (note,) in audit), position, tracked


def test_the_api_server_rides_out_its_postgresql_killed_mid_load_and_loses_nothing(
    postgres_server: Server, store: Ledger, tmp_path: Path
) -> None:
    table = events_table(store.recorder)  # type: ignore[arg-type]
    env = {
        **os.environ,
        **CONNECT_TIMEOUT,
        "LIENTHONG_PKI_DIR": str(identities.folder()),
        DATABASE_URL_ENV: database_url(postgres_server.store),
        "LIENTHONG_GRPC_ADDRESS": "127.0.0.1:0",
        "LIENTHONG_GRPC_GRACE_SECONDS": "1",
        LOG_KEY_FILE_ENV: str(tmp_path / "log.key"),
    }
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    publishers: list[Publisher] = []
    try:
        assert server.stdout is not None
        listening = LISTENING.search(server.stdout.readline())
        assert listening, f"the server did not start: {log.read_text()}"
        address = listening.group(1).decode()
        probe = open_tls_channel(address, "operator")
        reader = open_tls_channel(address, READER)
        plans = plan_service_pb2_grpc.PlanServiceStub(reader)
        task = plan_service_pb2.GetTaskRequest(name=PUBLISHERS[0][0])
        plans.GetTask(task, timeout=CALL_SECONDS)  # the reader is known: reads need no store
        assert health_of(probe, "") == SERVING

        publishers = [Publisher(address, subject, agency) for subject, agency in PUBLISHERS]
        wait_until(lambda: all(len(p.acked) >= BEFORE for p in publishers), "load")

        postgres_server.instance.kill()  # -9, mid-load: the postmaster and every backend
        wait_until(
            lambda: health_of(probe, "") == NOT_SERVING,
            "health NOT_SERVING with the store away",
            detail=log.read_text,
        )
        assert [health_of(probe, name) for name in WRITERS] == [NOT_SERVING] * len(WRITERS)
        assert health_of(probe, "lienthong.v1.PlanService") == SERVING  # from memory
        wait_until(
            lambda: all(p.refused for p in publishers), "publishes refused with the store away"
        )
        answer = plans.GetTask(task, timeout=CALL_SECONDS)  # a read from memory answers
        assert answer.task.name == PUBLISHERS[0][0]
        assert server.poll() is None

        postgres_server.instance.start()  # the same data directory and socket
        wait_until(
            lambda: health_of(probe, "") == SERVING,
            "health SERVING once the store is back and the views caught up",
            detail=log.read_text,
        )
        assert [health_of(probe, name) for name in WRITERS] == [SERVING] * len(WRITERS)
        at_back = [len(p.acked) for p in publishers]
        wait_until(
            lambda: all(
                len(p.acked) >= n + AFTER for p, n in zip(publishers, at_back, strict=True)
            ),
            "load once the server is SERVING again",
            detail=log.read_text,
        )
    finally:
        for publisher in publishers:
            publisher.stop()
        still_running = server.poll() is None
        if still_running:
            server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=DEADLINE)
    said = log.read_text()
    assert still_running, f"the server exited ({code}):\n{said[-6000:]}"
    assert code == 0, said[-6000:]

    refusals = Counter(r for p in publishers for r in p.refused)
    assert set(refusals) == {("UNAVAILABLE", "STORE_UNAVAILABLE")}, refusals
    assert said.count(AWAY_LINE) == 1, said[-6000:]  # once per outage
    assert said.count(BACK_LINE) == 1, said[-6000:]
    assert "live views stopped" not in said

    assert_each_acknowledged_once(publishers, postgres_server.store.conninfo(), table)


def assert_each_acknowledged_once(
    publishers: list[Publisher], conninfo: str, table: sql.Identifier
) -> None:
    """Every event id acknowledged is in the log and in the views exactly once, and
    the views hold what the log holds."""
    acked = [event_id for p in publishers for event_id in p.acked]
    assert len(acked) == len(set(acked))
    in_log, in_views, position, tracked = count_by_note(conninfo, table)
    assert tracked == {position}  # every view caught up with the log
    assert {e: in_log[e] for e in acked if in_log[e] != 1} == {}  # each exactly once
    assert {e: in_views[e] for e in acked if in_views[e] != 1} == {}
    assert max(in_log.values()) == 1  # nor any unacknowledged one twice
    assert in_views == in_log  # the views hold what the log holds, once
