"""Prometheus metrics: what each process measures, and the endpoint it is scraped on.

Every long-running process (``lienthong serve`` — embedded or ``--via-kafka`` —,
``ingest-worker``, ``relay``, ``checkpointer``) serves its own metrics over HTTP
(``GET /metrics``, the Prometheus text format) at one address derived from one
setting, ``LIENTHONG_METRICS_ADDRESS`` (``HOST:PORT``, default
``127.0.0.1:9460``: loopback only). ``PORT`` is the base: each process adds its own
offset (:data:`PORT_OFFSETS`: serve +0, ingest-worker +1, relay +2, checkpointer +3, reminders +4),
so the five children of ``lienthong run`` each have a port of their own. Port 0:
every process picks a free port (and says which on standard error). ``off``: no
endpoint. A port that cannot be bound stops the process (a configuration error).

The metrics (names, labels and what to alert on: ``docs/operations.md``, "Metrics
and alerts") are defined here, in the process-wide default registry; labels are
bounded sets (methods, status codes, refusal codes, outcomes, views, partitions),
never ids.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from services.store.database import ConfigurationError

ADDRESS_ENV = "LIENTHONG_METRICS_ADDRESS"
DEFAULT_ADDRESS = "127.0.0.1:9460"
PORT_OFFSETS = {"serve": 0, "ingest-worker": 1, "relay": 2, "checkpointer": 3, "reminders": 4}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "lienthong_grpc_request_duration_seconds",
    "How long gRPC calls took, by method and status code (streams: until they end).",
    ["method", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REFUSALS = Counter(
    "lienthong_grpc_refusals_total",
    "gRPC calls refused, by method and machine-readable reason (the ErrorInfo reason).",
    ["method", "reason"],
)
SUBMISSIONS = Counter(
    "lienthong_submissions_total",
    "Submissions decided by this process, by outcome (accepted, duplicate, rejected)"
    " and refusal code (empty unless rejected).",
    ["outcome", "reason"],
)
CONSUMER_LAG = Gauge(
    "lienthong_kafka_consumer_lag_records",
    "Records of an agency-events partition held by this worker and not stored yet.",
    ["partition"],
)
VIEW_LAG = Gauge(
    "lienthong_view_lag_records",
    "Log records the API server's view has not applied yet.",
    ["view"],
)
TREE_LAG = Gauge(
    "lienthong_tree_lag_records", "Stored log records the log's tree has not appended yet."
)
CHECKPOINT_AGE = Gauge(
    "lienthong_checkpoint_age_seconds",
    "Age of the latest signed checkpoint (absent until the first one).",
)
LOG_RECORDS = Gauge("lienthong_log_records", "Records in the event store's log.")
RELAY_LAG = Gauge(
    "lienthong_relay_lag_records", "Log records the outbound relay has not published yet."
)
RELAYED = Counter(
    "lienthong_relay_published_total", "Log records the outbound relay published to Kafka."
)
REMINDED = Counter(
    "lienthong_reminders_published_total",
    "Reminders (REPORT_MISSING, per unit) published to the reminders topic.",
)


def metrics_address(process: str) -> tuple[str, int] | None:
    """Where ``process`` serves its metrics (None: ``off``)."""
    value = os.environ.get(ADDRESS_ENV, DEFAULT_ADDRESS).strip() or DEFAULT_ADDRESS
    if value.lower() == "off":
        return None
    host, _, port = value.rpartition(":")
    try:
        base = int(port)
    except ValueError:
        base = -1
    if not host or not 0 <= base <= 65535 - max(PORT_OFFSETS.values()):
        msg = f"{ADDRESS_ENV} is {value!r}: HOST:PORT (the base port) or off"
        raise ConfigurationError(msg)
    return host.strip("[]"), (base + PORT_OFFSETS[process] if base else 0)


def serve_metrics(process: str) -> int | None:
    """Serve this process's metrics in a thread of their own; the port (None: off)."""
    address = metrics_address(process)
    if address is None:
        return None
    host, port = address
    try:
        server, _ = start_http_server(port, host)
    except OSError as error:
        msg = f"cannot serve metrics on {host}:{port} ({ADDRESS_ENV}): {error}"
        raise ConfigurationError(msg) from None
    bound = int(server.server_port)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address
    log.info("metrics on http://%s:%d/metrics", shown, bound, extra={"command": process})
    return bound


def count_verdict(outcome: str, reason_code: str) -> None:
    SUBMISSIONS.labels(outcome, reason_code if outcome == "rejected" else "").inc()


def observe_log(tree_lag: int, stored: int, age_seconds: float | None) -> None:
    """The log's status (:func:`services.app.checkpointer.log_status`) as gauges."""
    TREE_LAG.set(tree_lag)
    LOG_RECORDS.set(stored)
    if age_seconds is not None:
        CHECKPOINT_AGE.set(age_seconds)


def refusal_reason(context: grpc.aio.ServicerContext) -> str | None:
    """The ``ErrorInfo`` reason of the status a call was refused with, if any."""
    for key, value in context.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return None


def finished(method: str, context: grpc.aio.ServicerContext, started: float, ending: str) -> None:
    """Observe a call's duration under its status code (``ending`` when it set none:
    OK, CANCELLED or UNKNOWN), and count its refusal by reason."""
    code = context.code()  # a grpc.StatusCode once set (abort, set_code)
    name = code.name if code is not None else ending
    REQUEST_SECONDS.labels(method, name).observe(time.perf_counter() - started)
    reason = refusal_reason(context) if name != "OK" else None
    if reason:
        REFUSALS.labels(method, reason).inc()


Behaviour = Callable[..., Any]


def timed_coroutine(method: str, behaviour: Behaviour) -> Behaviour:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started, ending = time.perf_counter(), "UNKNOWN"
        try:
            response = await behaviour(request, context)
        except asyncio.CancelledError:
            ending = "CANCELLED"
            raise
        else:
            ending = "OK"
            return response
        finally:
            finished(method, context, started, ending)

    return call


def timed_generator(method: str, behaviour: Behaviour) -> Behaviour:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started, ending = time.perf_counter(), "UNKNOWN"
        try:
            async for response in behaviour(request, context):
                yield response
        except (asyncio.CancelledError, GeneratorExit):  # the caller went away
            ending = "CANCELLED"
            raise
        else:
            ending = "OK"
        finally:
            finished(method, context, started, ending)

    return call


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Times every call (``lienthong_grpc_request_duration_seconds``) and counts its
    refusal by reason (``lienthong_grpc_refusals_total``); unknown methods pass."""

    def __init__(self) -> None:
        # a method's handler is the same object call after call: wrapped once
        self.wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        known = self.wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        kind = (
            ("stream" if handler.request_streaming else "unary")
            + "_"
            + ("stream" if handler.response_streaming else "unary")
        )
        behaviour = getattr(handler, kind)
        # a streaming response is an async generator, or a coroutine that writes it
        wrap = timed_generator if inspect.isasyncgenfunction(behaviour) else timed_coroutine
        make = getattr(grpc, f"{kind}_rpc_method_handler")
        timed = make(
            wrap(method, behaviour),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self.wrapped[method] = (handler, timed)
        return timed
