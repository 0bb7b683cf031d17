"""``lienthong serve`` as a real process on a real PostgreSQL: SIGTERM stops it within
its grace period even when a call is stuck waiting for the store."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psycopg
import pytest
from lienthong.v1 import envelope_pb2, ingest_service_pb2, ingest_service_pb2_grpc
from psycopg import sql

from services.app.ledger import Ledger
from services.store.database import Database
from services.store.recorder import events_table
from tests import identities
from tests.e2e.conftest import open_tls_channel, prepare

# Bounds on a hang, not timing assertions: each step takes seconds when it works.
HANG = 120
LISTENING = re.compile(rb"gRPC API on (\S+)")


def database_url(database: Database) -> str:
    where = f"localhost:{database.port}/{database.dbname}"
    if database.host.startswith("/"):
        where += f"?host={database.host}"
    else:
        where = f"{database.host}:{database.port}/{database.dbname}"
    return f"postgresql://{database.user}:{database.password}@{where}"


def report() -> ingest_service_pb2.PublishRequest:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()),
        agency_id="phuoc-binh.health-post",
        subject="phuoc-binh-2026/task/24",
    )
    message.occurred_at.FromDatetime(dt.datetime.now(dt.UTC))
    message.progress_reported.percent = 10
    message.progress_reported.as_of = "2026-02-10"
    return ingest_service_pb2.PublishRequest(envelope=identities.signed(message))


def test_sigterm_stops_the_server_within_its_grace_with_a_call_stuck_on_the_store(
    app: Ledger, database: Database, tmp_path: Path
) -> None:
    prepare(app)
    env = {
        **os.environ,
        "LIENTHONG_PKI_DIR": str(identities.folder()),  # mutual TLS with the tests' authority
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_GRPC_ADDRESS": "127.0.0.1:0",
        "LIENTHONG_GRPC_GRACE_SECONDS": "1",
        # the stuck call would wait an hour
        "LIENTHONG_LOCK_TIMEOUT_SECONDS": "3600",
        "LIENTHONG_STATEMENT_TIMEOUT_SECONDS": "3600",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "serve.log").open("wb"),
    )
    try:
        assert server.stdout is not None
        address = LISTENING.search(server.stdout.readline())
        assert address, f"the server did not start: {(tmp_path / 'serve.log').read_text()}"
        table = events_table(app.recorder)  # type: ignore[arg-type]
        with (
            psycopg.connect(database.conninfo()) as stuck,  # holds the lock until the end
            open_tls_channel(address[1].decode(), "phuoc-binh.health-post") as channel,
            ThreadPoolExecutor(1) as caller,
        ):
            stuck.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
            publish = ingest_service_pb2_grpc.IngestServiceStub(channel).Publish
            call = caller.submit(publish, report(), timeout=HANG)
            # Until the server's write waits for the lock this transaction holds.
            stuck.execute(
                sql.SQL(
                    "DO $$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM pg_locks"
                    " WHERE NOT granted AND relation = {}::regclass) LOOP"
                    " PERFORM pg_sleep(0.01); END LOOP; END $$"
                ).format(sql.Literal(app.recorder.events_table_name))  # type: ignore[attr-defined]
            )
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=HANG)
            with pytest.raises(grpc.RpcError):
                call.result(timeout=HANG)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()


def serve_refusal(database: Database, tmp_path: Path, *args: str, **env: str) -> str:
    """What ``lienthong serve`` prints when it refuses to start (it must)."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", *args],
        env={
            **os.environ,
            "LIENTHONG_DATABASE_URL": database_url(database),
            "LIENTHONG_PKI_DIR": str(tmp_path / "no-pki"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_serve_without_certificates_names_the_setting_and_pki_init(
    database: Database, tmp_path: Path
) -> None:
    printed = serve_refusal(database, tmp_path, LIENTHONG_GRPC_ADDRESS="127.0.0.1:0")
    assert "LIENTHONG_TLS_CERT" in printed
    assert "lienthong pki init" in printed


def test_serve_refuses_plaintext_on_an_address_that_is_not_loopback(
    database: Database, tmp_path: Path
) -> None:
    printed = serve_refusal(database, tmp_path, "--plaintext", LIENTHONG_GRPC_ADDRESS="0.0.0.0:0")
    assert "loopback" in printed
