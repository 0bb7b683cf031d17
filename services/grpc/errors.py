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
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from domain.errors import DomainError
from services.app.submissions import TryAgainError, Verdict, VerdictPendingError
from services.wire.violations import RequestInvalidError, Violation

DOMAIN = "lienthong.v1"
CODES = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "conflict": grpc.StatusCode.ALREADY_EXISTS,
}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
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
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


def bad_request(violations: Sequence[Violation]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=v.field, description=v.description, reason=v.reason
            )
            for v in violations
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
    info = error_details_pb2.ErrorInfo(reason="INVALID_REQUEST", domain=DOMAIN)
    info.metadata["fields"] = ",".join(v.field for v in error.violations)
    return status_for(
        grpc.StatusCode.INVALID_ARGUMENT, str(error), [info, bad_request(error.violations)]
    )


def status_of(error: Exception) -> status_pb2.Status | None:
    if isinstance(error, RejectedError):
        v = error.verdict
        return refusal_status(v.reason_code, v.kind, v.message, v.field, [error.message])
    if isinstance(error, DomainError):
        return refusal_status(error.code, error.kind, error.message, error.field)
    if isinstance(error, RequestInvalidError):
        return invalid_status(error)
    if isinstance(error, VerdictPendingError):
        info = error_details_pb2.ErrorInfo(reason="VERDICT_PENDING", domain=DOMAIN)
        return status_for(grpc.StatusCode.UNAVAILABLE, str(error), [info])
    if isinstance(error, TryAgainError):
        info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after * 1000))
        retry = error_details_pb2.RetryInfo(retry_delay=delay)
        return status_for(grpc.StatusCode.ABORTED, str(error), [info, retry])
    return None


async def abort(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    code = next(c for c in grpc.StatusCode if c.value[0] == status.code)
    await context.abort(code, status.message, ((STATUS_DETAILS_KEY, status.SerializeToString()),))


Behaviour = Callable[..., Any]


def _wrap_unary(behaviour: Behaviour) -> Behaviour:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except Exception as error:
            status = status_of(error)
            if status is None:
                raise
            await abort(context, status)
            raise  # pragma: no cover - abort raises

    return wrapped


def _wrap_stream(behaviour: Behaviour) -> Behaviour:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except Exception as error:
            status = status_of(error)
            if status is None:
                raise
            await abort(context, status)

    return wrapped


def guarded(servicer: Any, service: ServiceDescriptor) -> Any:
    """``servicer`` with every method of ``service`` mapping refusals onto
    ``google.rpc.Status`` — wrapped once, before it is added to the server, so a call
    pays no interceptor."""
    for method in service.methods:
        behaviour = getattr(servicer, method.name)
        wrap = _wrap_stream if method.server_streaming else _wrap_unary
        setattr(servicer, method.name, wrap(behaviour))
    return servicer
