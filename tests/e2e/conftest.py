"""A real gRPC server (grpc.aio, in a thread of its own) on a real PostgreSQL with
the four plans imported, and a channel to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.grpc.server import RunningServer, ServerSettings, start_server
from tests.conftest import PLANS, REGISTRY

START_TIMEOUT = 30


@dataclass
class ServerThread:
    """Runs the server's event loop in a background thread until stopped."""

    app: Ledger
    port: int = 0

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        settings = ServerSettings(address="127.0.0.1:0", registry=REGISTRY)
        future = asyncio.run_coroutine_threadsafe(start_server(self.app, settings), self.loop)
        self.running: RunningServer = future.result(timeout=START_TIMEOUT)
        self.port = self.running.port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(1), self.loop).result(
            timeout=START_TIMEOUT
        )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=START_TIMEOUT)


@pytest.fixture
def server(app: Ledger) -> Iterator[ServerThread]:
    import_plans(app, PLANS, REGISTRY)
    running = ServerThread(app)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as open_channel:
        grpc.channel_ready_future(open_channel).result(timeout=START_TIMEOUT)
        yield open_channel
