"""A real gRPC server (grpc.aio, in a thread of its own) on a real PostgreSQL with
the four plans imported and every agency's key registered, speaking mutual TLS with
the tests' throwaway authority (:mod:`tests.identities`), and channels to it.

The ``channel`` fixture is a :class:`RoutingChannel`: each request goes over the
mutual-TLS channel of the identity it names — an envelope's ``agency_id``, a review
request's ``reviewer.agency_id``, a stream's first request's — signed by that
agency when it is not signed yet; a read goes as the coordination office
(:data:`READER`). A request naming an agency that holds no certificate (a garbage id
of a bad-input case) goes as a default agency (:data:`DEFAULT_AGENCY`, or
:data:`DEFAULT_OFFICE` for what only an office may send), so that its shape is still
what the server refuses. ``tls_channel(name)`` is a plain channel as one identity,
signing nothing (for cases about signatures and roles).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Self

import grpc
import pytest
from google.protobuf.message import Message
from lienthong.v1 import envelope_pb2

from domain.keys import Role
from lienthong_sdk.identity import canonical_bytes
from services.app.checkpointer import Checkpointer
from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.grpc.server import RunningServer, ServerSettings, start_server
from services.wire.roles import CHANGES
from tests import identities
from tests.conftest import PLANS, REGISTRY

START_TIMEOUT = 30
READER = "phuoc-binh.vhxh"  # reads go as the office of Phước Bình
DEFAULT_AGENCY = identities.DEFAULT_AGENCY
DEFAULT_OFFICE = "phuoc-binh.vhxh"


def tls_settings(**overrides: Any) -> ServerSettings:
    """Settings of a test server: any free loopback port, mutual TLS with the tests'
    authority, no rate limit to speak of (the rate-limit tests set their own)."""
    folder = identities.folder()
    settings = ServerSettings(
        address="127.0.0.1:0",
        registry=(REGISTRY,),
        rate_per_second=1e6,
        rate_burst=1e6,
        certificate=folder / "server.pem",
        private_key=folder / "server.key",
        trust_anchors=folder / "ca.pem",
    )
    return replace(settings, **overrides)


@dataclass
class ServerThread:
    """Runs the server's event loop in a background thread until stopped."""

    app: Ledger
    port: int = 0
    settings: ServerSettings | None = None
    checkpointer: Checkpointer | None = None  # embedded mode's follower, when given

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        settings = self.settings or tls_settings()
        future = asyncio.run_coroutine_threadsafe(
            start_server(self.app, settings, checkpointer=self.checkpointer), self.loop
        )
        self.running: RunningServer = future.result(timeout=START_TIMEOUT)
        self.port = self.running.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(1), self.loop).result(
            timeout=START_TIMEOUT
        )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=START_TIMEOUT)


def prepare(app: Ledger) -> None:
    """The four plans imported and every agency's key registered."""
    import_plans(app, PLANS, REGISTRY)
    identities.enrol(app)


@pytest.fixture
def server(app: Ledger) -> Iterator[ServerThread]:
    prepare(app)
    running = ServerThread(app)
    running.start()
    yield running
    running.stop()


def open_tls_channel(target: str, name: str, role: Role | None = None) -> grpc.Channel:
    """A mutual-TLS channel to ``target`` as ``name`` (an agency id, "auditor" or
    "operator"), ready."""
    channel = identities.identity(name, role).secure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
    return channel


# Signing as the agency a message names -----------------------------------------------


@functools.cache
def _signature(agency: str, payload: bytes, kind: type[Message]) -> bytes:
    """The signature of one message (by its canonical bytes), made once: a resent
    message is byte for byte the one sent before."""
    message = kind.FromString(payload)
    identities.signer(agency).sign(message)
    return message.signature.SerializeToString()  # type: ignore[attr-defined]


def sign_as(agency: str, message: Any) -> None:
    """Sign ``message`` (in place) as ``agency`` unless it is signed already."""
    if message.signature.signature:
        return
    signed = envelope_pb2.Signature.FromString(
        _signature(agency, canonical_bytes(message), type(message))
    )
    message.signature.CopyFrom(signed)


def speaker(name: str, office_only: bool) -> str:
    """``name`` when it holds a certificate, else the default that may send it."""
    if name in identities.ROLES:
        return name
    return DEFAULT_OFFICE if office_only else DEFAULT_AGENCY


def routed(request: Any) -> tuple[str, Any]:
    """Who sends ``request`` and the request to send (a signed copy when it carries
    an envelope or a reviewer)."""
    if not isinstance(request, Message):
        return DEFAULT_AGENCY, request  # raw bytes: a bad-input case
    fields = request.DESCRIPTOR.fields_by_name
    if "envelope" in fields and request.HasField("envelope"):  # type: ignore[arg-type]
        envelope = request.envelope  # type: ignore[attr-defined]
        who = speaker(envelope.agency_id, envelope.WhichOneof("payload") in CHANGES)
        copy = type(request)()
        copy.CopyFrom(request)
        sign_as(who, copy.envelope)  # type: ignore[attr-defined]
        return who, copy
    if isinstance(request, envelope_pb2.AgencyEventEnvelope):
        who = speaker(request.agency_id, request.WhichOneof("payload") in CHANGES)
        copy = envelope_pb2.AgencyEventEnvelope()
        copy.CopyFrom(request)
        sign_as(who, copy)
        return who, copy
    if "reviewer" in fields and "signature" in fields:
        who = speaker(request.reviewer.agency_id, office_only=True)  # type: ignore[attr-defined]
        copy = type(request)()
        copy.CopyFrom(request)
        sign_as(who, copy)
        return who, copy
    return READER, request


class RoutingChannel(grpc.Channel):  # type: ignore[misc]
    """A channel that sends each request as the identity it names (see the module)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.channels: dict[str, grpc.Channel] = {}
        self.lock = threading.Lock()

    def channel_of(self, name: str) -> grpc.Channel:
        with self.lock:
            if name not in self.channels:
                self.channels[name] = identities.identity(name).secure_channel(self.target)
            return self.channels[name]

    def _callable(
        self, kind: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return Routed(self, kind, method, args, kwargs)

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._callable("unary_unary", method, args, kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._callable("unary_stream", method, args, kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._callable("stream_unary", method, args, kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._callable("stream_stream", method, args, kwargs)

    def subscribe(self, callback: Callable[..., Any], try_to_connect: bool = False) -> None:
        self.channel_of(READER).subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        self.channel_of(READER).unsubscribe(callback)

    def close(self) -> None:
        with self.lock:
            for channel in self.channels.values():
                channel.close()
            self.channels.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Routed:
    """One method of a :class:`RoutingChannel`: each call goes as its request's identity."""

    channel: RoutingChannel
    kind: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def _target(self, name: str) -> Any:
        real = self.channel.channel_of(name)
        return getattr(real, self.kind)(self.method, *self.args, **self.kwargs)

    def _route(self, request: Any) -> tuple[Any, Any]:
        if self.kind.startswith("stream"):
            requests = iter(request)
            first = next(requests, None)
            if first is None:
                return self._target(READER), iter(())
            who, first = routed(first)
            rest = (routed(r)[1] for r in requests)
            return self._target(who), itertools.chain([first], rest)
        who, request = routed(request)
        return self._target(who), request

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        target, request = self._route(request)
        return target(request, *args, **kwargs)

    def with_call(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        target, request = self._route(request)
        return target.with_call(request, *args, **kwargs)

    def future(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        target, request = self._route(request)
        return target.future(request, *args, **kwargs)


def routing_channel(port: int) -> RoutingChannel:
    channel = RoutingChannel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
    return channel


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with routing_channel(server.port) as open_channel:
        yield open_channel


@pytest.fixture
def tls_channel(server: ServerThread) -> Iterator[Callable[[str], grpc.Channel]]:
    """``tls_channel(name)``: a mutual-TLS channel to the server as ``name``."""
    opened: list[grpc.Channel] = []

    def open_as(name: str, role: Role | None = None) -> grpc.Channel:
        channel = open_tls_channel(server.address, name, role)
        opened.append(channel)
        return channel

    yield open_as
    for channel in opened:
        channel.close()
