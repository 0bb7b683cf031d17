"""An API server whose views read the log from a hot standby
(``LIENTHONG_READ_DATABASE_URL``) while writes go to the primary: what the primary
acknowledged is in its answers; it writes nothing to the standby (it could not)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import grpc
import psycopg
import pytest
from lienthong.v1 import (
    envelope_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    resources_pb2,
)

from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, submit
from services.grpc.server import RunningServer, start_server
from services.store.replication import Instance
from tests import identities
from tests.e2e.conftest import READER, open_tls_channel, prepare, tls_settings
from tests.replication.conftest import Pair, wait_until

PB = "phuoc-binh-2026"
HEALTH = "phuoc-binh.health-post"
TIMEOUT = 30


class StandbyServer:
    """``start_server`` in a loop of its own: writes to ``app``, views on ``source``."""

    def __init__(self, app: Ledger, source: Ledger) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(
            start_server(app, tls_settings(), source=source), self.loop
        )
        self.running: RunningServer = started.result(timeout=TIMEOUT)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(1), self.loop).result(timeout=TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=TIMEOUT)


@pytest.fixture
def server(primary_app: Ledger, standby_app: Ledger) -> Iterator[StandbyServer]:
    prepare(primary_app)
    running = StandbyServer(primary_app, standby_app)
    yield running
    running.stop()


def in_progress(channel: grpc.Channel) -> tuple[int, int]:
    """How many items of Phước Bình are in progress, and the position the answer
    was read on."""
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    answer = plans.GetPlanStatus(plan_service_pb2.GetPlanStatusRequest(plan_id=PB), timeout=TIMEOUT)
    counted = {resources_pb2.ItemStatus.Name(c.status): c.count for c in answer.status.by_status}
    return counted.get("ITEM_STATUS_IN_PROGRESS", 0), answer.answered_on.position


def test_a_server_reading_from_the_standby_answers_with_a_submission_acknowledged_on_the_primary(
    pair: Pair, primary_app: Ledger, server: StandbyServer
) -> None:
    with open_tls_channel(server.address, READER) as channel:
        assert in_progress(channel)[0] == 0
        verdict = submit(
            primary_app,
            Command(
                str(uuid.uuid4()),
                "progress_reported",
                f"{PB}/task/24",
                Actor(agency=HEALTH, channel="test"),
                {"percent": 30, "as_of": dt.date(2026, 2, 10)},
            ),
        )
        assert verdict.outcome == "accepted"  # acknowledged by the primary alone
        wait_until(
            lambda: in_progress(channel) >= (1, verdict.position),
            "the standby's server shows the acknowledged report",
        )
    assert pair.standby.in_recovery()  # it was read from a standby all along


def test_a_write_through_the_standbys_server_goes_to_the_primary_and_reads_back_at_once(
    pair: Pair, primary_app: Ledger, server: StandbyServer
) -> None:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id=HEALTH, subject=f"{PB}/task/24"
    )
    message.occurred_at.FromDatetime(dt.datetime.now(dt.UTC))
    message.progress_reported.percent = 40
    message.progress_reported.as_of = "2026-02-10"
    with open_tls_channel(server.address, HEALTH) as channel:
        verdict = (
            ingest_service_pb2_grpc.IngestServiceStub(channel)
            .Publish(
                ingest_service_pb2.PublishRequest(envelope=identities.signed(message)),
                timeout=TIMEOUT,
            )
            .verdict
        )
    assert verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED
    assert primary_app.item_status(f"{PB}/task/24")["percent"] == 40
    with open_tls_channel(server.address, READER) as channel:
        count, position = in_progress(channel)  # Publish waited for the views: no wait here
    assert (count, position >= verdict.position) == (1, True)
    assert not view_tables(pair.primary)  # nothing of the views was written anywhere


def view_tables(instance: Instance) -> list[str]:
    with psycopg.connect(instance.database("lienthong").conninfo()) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'view_%' ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def test_the_standbys_server_outlives_a_restart_of_the_standby(
    pair: Pair, primary_app: Ledger, server: StandbyServer
) -> None:
    pair.standby.stop()
    pair.standby.start(as_configured=True)  # (meanwhile the primary's commits would wait)
    verdict = submit(
        primary_app,
        Command(
            str(uuid.uuid4()),
            "progress_reported",
            f"{PB}/task/24",
            Actor(agency=HEALTH, channel="test"),
            {"percent": 20, "as_of": dt.date(2026, 2, 10)},
        ),
    )
    assert verdict.outcome == "accepted"
    with open_tls_channel(server.address, READER) as channel:
        wait_until(
            lambda: in_progress(channel) >= (1, verdict.position),
            "the standby's server, its standby restarted, shows the acknowledged report",
        )
