"""Every refusal becomes a ``google.rpc.Status`` (each servicer method is wrapped once).

- A :class:`~domain.errors.DomainError` becomes the status its kind calls for
  (invalid → INVALID_ARGUMENT, forbidden → PERMISSION_DENIED, precondition →
  FAILED_PRECONDITION, not_found → NOT_FOUND, conflict → ALREADY_EXISTS), with an
  ``ErrorInfo`` whose reason is the domain error's code and, when it names a field,
  a ``BadRequest`` with that field.
- A :class:`RequestInvalidError` (a request checked as a whole) becomes
  INVALID_ARGUMENT with one ``BadRequest`` listing every invalid field.
- A :class:`RejectedError` (a submission refused and recorded) carries its verdict
  as a detail too, so clients read the same verdict either way.
- A :class:`~services.app.submissions.TryAgainError` (nothing recorded; the same
  request may succeed later) becomes ABORTED with a ``RetryInfo``.
- A :class:`~services.grpc.auth.CallRefusedError` (the caller is unknown, may not call
  the method, or calls too often) becomes its own code (UNAUTHENTICATED,
  PERMISSION_DENIED, RESOURCE_EXHAUSTED) with its reason, and a ``RetryInfo`` when it
  may succeed later.
- The store away (:data:`~projections.engine.live.STORE_AWAY`: PostgreSQL refused,
  lost or restarting) becomes UNAVAILABLE with the reason ``STORE_UNAVAILABLE`` and a
  ``RetryInfo`` (:data:`STORE_RETRY_SECONDS`), never UNKNOWN: a write may or may not
  have been recorded, and the same request (same event id) answers its first verdict
  once the store is back. The database's own words (hosts, sockets) stay in the log.

When the server has a :class:`~services.grpc.auth.Gate`, every call passes it first:
the caller is authenticated and authorised (and set as the call's
:data:`~services.grpc.callers.CALLER`) before its request is even checked.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import code_pb2, error_details_pb2, status_pb2
from lienthong.v1 import envelope_pb2

from domain.errors import DomainError
from domain.messages import LOCALE, vietnamese
from domain.text import QUOTE_CHARS, bounded
from projections.engine.live import STORE_AWAY, ViewsStoppedError
from services.app.submissions import TryAgainError, Verdict, VerdictPendingError
from services.grpc.auth import CallRefusedError, Gate
from services.grpc.callers import CALLER
from services.wire.text import text_violations
from services.wire.violations import RequestInvalidError, Violation

DOMAIN = "lienthong.v1"
CODES = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "conflict": grpc.StatusCode.ALREADY_EXISTS,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
ENVELOPES = frozenset({envelope_pb2.AgencyEventEnvelope.DESCRIPTOR.full_name})
MAX_VIOLATIONS = 8  # field violations in one status: gRPC's trailers hold 16 KiB
log = logging.getLogger(__name__)


class RejectedError(Exception):
    """A submission was refused (and the refusal recorded); ``verdict`` says how."""

    def __init__(self, verdict: Verdict, message: Message) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict
        self.message = message


def status_for(
    code: grpc.StatusCode, message: str, details: Sequence[Message]
) -> status_pb2.Status:
    """The status; when a detail names the refusal's code, Vietnamese first: the message
    begins with the code's sentence (``domain.messages``), which a ``LocalizedMessage``
    (vi-VN) also carries alone, then the English detail."""
    reasons = [d.reason for d in details if isinstance(d, error_details_pb2.ErrorInfo)]
    if reasons:
        said = vietnamese(reasons[0])
        message = f"{said} — {message}"
        details = [*details, error_details_pb2.LocalizedMessage(locale=LOCALE, message=said)]
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=bounded(message))
    for detail in details:
        status.details.add().Pack(detail)
    return status


def bad_request(violations: Sequence[Violation]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=v.field[: QUOTE_CHARS * 4],
                description=bounded(v.description),
                reason=v.reason,
            )
            for v in violations[:MAX_VIOLATIONS]
        ]
    )


def refusal_status(
    code: str, kind: str, message: str, field: str | None, extra: Sequence[Message] = ()
) -> status_pb2.Status:
    """The status of a refusal with domain error ``code`` of ``kind``."""
    info = error_details_pb2.ErrorInfo(reason=code, domain=DOMAIN)
    details: list[Message] = [info]
    if field:
        info.metadata["field"] = field
        details.append(bad_request([Violation(field, message, code)]))
    return status_for(
        CODES.get(kind, grpc.StatusCode.INVALID_ARGUMENT), message, [*details, *extra]
    )


def invalid_status(error: RequestInvalidError) -> status_pb2.Status:
    """INVALID_ARGUMENT; the ``ErrorInfo`` reason is the request's code (the same an
    envelope's receipt keeps), every violation is in the ``BadRequest``."""
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN)
    info.metadata["fields"] = bounded(",".join(v.field for v in error.violations))
    return status_for(
        grpc.StatusCode.INVALID_ARGUMENT, str(error), [info, bad_request(error.violations)]
    )


# Nothing recorded yet, ask again: the reason each of these answers UNAVAILABLE with.
UNAVAILABLE_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (ViewsStoppedError, "VIEWS_STOPPED"),
    (VerdictPendingError, "VERDICT_PENDING"),
)


STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
STORE_RETRY_SECONDS = 2.0  # the RetryInfo of STORE_UNAVAILABLE
STORE_AWAY_MESSAGE = (
    "the event store is unavailable (PostgreSQL unreachable or restarting); the request "
    "may or may not have been recorded: send it again, with the same event id, later"
)


def store_unavailable_status(error: Exception) -> status_pb2.Status:
    """UNAVAILABLE, ``STORE_UNAVAILABLE``, with a ``RetryInfo``; what the database said
    is logged, not told to the caller."""
    log.debug("a call met the store away: %s: %s", type(error).__name__, error)
    info = error_details_pb2.ErrorInfo(reason=STORE_UNAVAILABLE, domain=DOMAIN)
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(int(STORE_RETRY_SECONDS * 1000))
    retry = error_details_pb2.RetryInfo(retry_delay=delay)
    return status_for(grpc.StatusCode.UNAVAILABLE, STORE_AWAY_MESSAGE, [info, retry])


def try_again_status(error: TryAgainError) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(int(error.retry_after * 1000))
    retry = error_details_pb2.RetryInfo(retry_delay=delay)
    return status_for(grpc.StatusCode.ABORTED, str(error), [info, retry])


def refused_call_status(error: CallRefusedError) -> status_pb2.Status:
    details: list[Message] = [error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)]
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(1, int(error.retry_after * 1000)))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    return status_for(error.code, error.message, details)


def rejected_status(error: RejectedError) -> status_pb2.Status:
    v = error.verdict
    return refusal_status(v.reason_code, v.kind, v.message, v.field, [error.message])


def domain_status(error: DomainError) -> status_pb2.Status:
    return refusal_status(error.code, error.kind, error.message, error.field)


# Each kind of refusal and its status (the first that matches).
STATUSES: tuple[
    tuple[type[Exception] | tuple[type[Exception], ...], Callable[[Any], status_pb2.Status]], ...
] = (
    (CallRefusedError, refused_call_status),
    (RejectedError, rejected_status),
    (DomainError, domain_status),
    (RequestInvalidError, invalid_status),
    (TryAgainError, try_again_status),
    (STORE_AWAY, store_unavailable_status),  # after TryAgainError: STORE_BUSY is its own
)


def status_of(error: Exception) -> status_pb2.Status | None:
    for kind, status in STATUSES:
        if isinstance(error, kind):
            return status(error)
    for unavailable, reason in UNAVAILABLE_REASONS:
        if isinstance(error, unavailable):
            info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
            return status_for(grpc.StatusCode.UNAVAILABLE, str(error), [info])
    return None


async def abort(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    code = next(c for c in grpc.StatusCode if c.value[0] == status.code)
    await context.abort(code, status.message, ((STATUS_DETAILS_KEY, status.SerializeToString()),))


Behaviour = Callable[..., Any]
HANDLERS = {  # (client streaming, server streaming) → how grpc wraps the behaviour
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


@dataclass(frozen=True)
class Undecodable:
    """Request bytes that are no message of the method's type (not protobuf, or a
    string that is not UTF-8): refused as UNDECODABLE, never an internal error."""

    error: str


def lenient(message_type: type[Message]) -> Callable[[bytes], Any]:
    """The method's deserializer: the message, or what was wrong with its bytes."""

    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError as error:
            return Undecodable(str(error) or "not a protobuf message")

    return parse


def checked(request: Any) -> None:
    """A request as deserialized: refused when it is not a message, or when a text or
    timestamp field breaks a rule (:mod:`services.wire.text`), before anything runs.
    An envelope is left to the codec, which keeps its refusal on record."""
    if isinstance(request, Undecodable):
        violation = Violation("request", bounded(f"is not a valid message: {request.error}"))
        raise RequestInvalidError([replace(violation, reason="UNDECODABLE")])
    violations = text_violations(request, skip=ENVELOPES)
    if violations:
        raise RequestInvalidError(violations)


async def each_checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        checked(request)
        yield request


async def admitted(gate: Gate | None, context: grpc.aio.ServicerContext, method: str) -> None:
    """The call's caller, admitted by ``gate`` and set as :data:`CALLER` (a call runs
    in a task of its own, so the setting stays with it)."""
    if gate is not None:
        CALLER.set(await gate.admit(context, method))


def _wrap_unary(
    behaviour: Behaviour, client_streaming: bool, gate: Gate | None, method: str
) -> Behaviour:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            await admitted(gate, context, method)
            if client_streaming:
                request = each_checked(request)
            else:
                checked(request)
            return await behaviour(request, context)
        except Exception as error:
            status = status_of(error)
            if status is None:
                raise
            await abort(context, status)
            raise  # pragma: no cover - abort raises

    return wrapped


def _wrap_stream(
    behaviour: Behaviour, client_streaming: bool, gate: Gate | None, method: str
) -> Behaviour:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            await admitted(gate, context, method)
            if client_streaming:
                request = each_checked(request)
            else:
                checked(request)
            async for response in behaviour(request, context):
                yield response
        except Exception as error:
            status = status_of(error)
            if status is None:
                raise
            await abort(context, status)

    return wrapped


def guarded(
    servicer: Any, service: ServiceDescriptor, gate: Gate | None = None
) -> grpc.GenericRpcHandler:
    """The handler of ``service`` by ``servicer``: every caller admitted by ``gate``
    (when given), every request deserialized leniently and checked, every refusal
    mapped onto ``google.rpc.Status`` — built once, so a call pays no interceptor."""
    handlers = {}
    for method in service.methods:
        wrap = _wrap_stream if method.server_streaming else _wrap_unary
        make = HANDLERS[method.client_streaming, method.server_streaming]
        handlers[method.name] = make(
            wrap(
                getattr(servicer, method.name),
                method.client_streaming,
                gate,
                f"{service.full_name}/{method.name}",
            ),
            request_deserializer=lenient(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
