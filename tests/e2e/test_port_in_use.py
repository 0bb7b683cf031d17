"""A second ``lienthong serve`` on a port already in use refuses to start, loudly,
instead of sharing the port (grpc's SO_REUSEPORT) and answering beside the first."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from projections.engine.live import LiveViews
from services.app.ledger import Ledger
from services.grpc.server import start_server
from services.store.database import Database
from tests import identities
from tests.e2e.conftest import open_tls_channel, prepare, tls_settings
from tests.e2e.test_server_process import HANG, LISTENING, database_url, serve_refusal


def test_a_second_server_on_a_port_in_use_refuses_to_start_and_the_first_keeps_serving(
    app: Ledger, database: Database, tmp_path: Path
) -> None:
    prepare(app)
    pki = str(identities.folder())
    first = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve"],
        env={
            **os.environ,
            "LIENTHONG_PKI_DIR": pki,
            "LIENTHONG_DATABASE_URL": database_url(database),
            "LIENTHONG_GRPC_ADDRESS": "127.0.0.1:0",
        },
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "first.log").open("wb"),
    )
    try:
        assert first.stdout is not None
        listening = LISTENING.search(first.stdout.readline())  # printed once it serves
        assert listening, f"the first server did not start: {(tmp_path / 'first.log').read_text()}"
        address = listening[1].decode()

        printed = serve_refusal(
            database, tmp_path, LIENTHONG_PKI_DIR=pki, LIENTHONG_GRPC_ADDRESS=address
        )

        assert "CONFIGURATION" in printed
        assert f"cannot listen on {address}: address already in use" in printed
        assert "LIENTHONG_GRPC_ADDRESS" in printed
        assert first.poll() is None, "the first server must not be disturbed"
        with open_tls_channel(address, "phuoc-binh.health-post") as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=HANG
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        first.terminate()
        try:
            first.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()


def test_a_name_bound_in_part_is_refused_whole(database: Database, tmp_path: Path) -> None:
    """``localhost`` resolves to 127.0.0.1 (and ::1): grpc would bind the free one and
    only warn; the server refuses instead."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        printed = serve_refusal(
            database,
            tmp_path,
            LIENTHONG_PKI_DIR=str(identities.folder()),
            LIENTHONG_GRPC_ADDRESS=f"localhost:{port}",
        )
    assert f"cannot listen on localhost:{port}: address already in use (127.0.0.1:{port})" in (
        printed
    )


def test_a_server_that_fails_to_start_lets_its_port_go(
    app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bound before the views catch up; when catching up fails, the port is free again."""
    with socket.socket() as finder:
        finder.bind(("127.0.0.1", 0))
        port = finder.getsockname()[1]

    def broken(self: LiveViews) -> None:
        raise RuntimeError("the views cannot catch up")

    monkeypatch.setattr(LiveViews, "catch_up", broken)
    with pytest.raises(RuntimeError, match="cannot catch up"):
        asyncio.run(start_server(app, tls_settings(address=f"127.0.0.1:{port}")))
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_serve_address_overrides_the_setting(database: Database, tmp_path: Path) -> None:
    """``lienthong serve --address HOST:PORT`` listens where it says, whatever
    ``LIENTHONG_GRPC_ADDRESS`` says (a held port shows where it tried)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        printed = serve_refusal(
            database,
            tmp_path,
            "--address",
            address,
            LIENTHONG_PKI_DIR=str(identities.folder()),
            LIENTHONG_GRPC_ADDRESS="127.0.0.1:0",
        )
    assert f"cannot listen on {address}: address already in use" in printed
