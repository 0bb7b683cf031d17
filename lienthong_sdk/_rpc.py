"""What both clients share: the channel, retries with backoff, errors, pagination."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from lienthong.v1 import envelope_pb2

from lienthong_sdk.identity import Identity, Signer
from lienthong_sdk.verdicts import LienthongError, Verdict, rejected_verdict

STATUS_DETAILS_KEY = "grpc-status-details-bin"
USER_AGENT = "lienthong-sdk-python/0.1"
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)

R = TypeVar("R")
T = TypeVar("T")
M = TypeVar("M", bound=Message)


def status_of(error: grpc.RpcError) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a failed call: the rich one from the trailer when
    the server sent one, else the bare code and message."""
    for key, value in _trailing_metadata(error):
        if key == STATUS_DETAILS_KEY:
            return status_pb2.Status.FromString(value)
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return status_pb2.Status(code=code.value[0], message=details or "")


def _trailing_metadata(error: grpc.RpcError) -> Sequence[tuple[str, Any]]:
    if not hasattr(error, "trailing_metadata"):
        return ()
    return tuple(error.trailing_metadata() or ())


def _retryable(error: grpc.RpcError) -> bool:
    return hasattr(error, "code") and error.code() in RETRYABLE


def retry_delay(error: grpc.RpcError) -> float:
    """The seconds the server asks the caller to wait (``google.rpc.RetryInfo``); 0
    when it does not say."""
    for any_detail in status_of(error).details:
        if any_detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            any_detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    return 0.0


def paginate(fetch: Callable[[str], tuple[Sequence[T], str]]) -> Iterator[T]:
    """Every item of a paginated list: ``fetch(page_token)`` returns one page's items
    and the next page token. The list ends with an empty token, or with an empty page
    that hands back the token it was asked for (a resumable end of the list)."""
    token = ""
    seen: set[str] = set()
    while True:
        items, next_token = fetch(token)
        yield from items
        if not next_token or (next_token == token and not items):
            return
        if next_token in seen:
            msg = f"the server handed out page token {next_token!r} again"
            raise LienthongError("INTERNAL", msg, reason="PAGE_TOKEN_REPEATED")
        seen.add(next_token)
        token = next_token


class Connection:
    """A channel to the Lienthong API and the retry policy of calls over it.

    ``target`` is "host:port" (a channel is opened and owned: mutual TLS with
    ``identity``'s certificate; without an identity, plaintext — an anonymous,
    read-only caller of a development server) or an existing ``grpc.Channel`` (used
    as given, never closed here).
    """

    def __init__(
        self,
        target: str | grpc.Channel,
        *,
        identity: Identity | None = None,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        self.owns_channel = isinstance(target, str)
        options: list[tuple[str, object]] = [("grpc.primary_user_agent", USER_AGENT)]
        if not isinstance(target, str):
            self.channel = target
        elif identity is not None:
            self.channel = identity.secure_channel(target, options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep

    def call(self, attempt: Callable[[float], R]) -> R:
        """``attempt(timeout)``, tried again after a transient failure (UNAVAILABLE,
        DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED) up to ``retries`` times with
        exponential backoff, or after the delay the server's ``RetryInfo`` asks for
        when that is longer. The attempt must send the same request every time."""
        for retry in range(self.retries + 1):
            try:
                return attempt(self.timeout)
            except grpc.RpcError as error:
                if retry == self.retries or not _retryable(error):
                    raise
                delay = max(self.backoff * 2**retry, retry_delay(error))
            self._sleep(delay)
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def query(self, method: Any, request: Message) -> Any:
        """A read: the response of ``method(request)``, retried; a refusal raises
        :class:`LienthongError`."""
        try:
            return self.call(lambda timeout: method(request, timeout=timeout))
        except grpc.RpcError as error:
            raise LienthongError.from_status(status_of(error)) from None

    def submit(self, method: Any, request: Message) -> tuple[Verdict, Any]:
        """A write: its verdict and the whole response (None when refused). A refusal
        that carries a verdict gives that verdict; any other refusal raises."""
        try:
            response = self.call(lambda timeout: method(request, timeout=timeout))
        except grpc.RpcError as error:
            return refusal(error), None
        return verdict_of(response.verdict), response


def refusal(error: grpc.RpcError) -> Verdict:
    """The verdict a failed submission carries; raises :class:`LienthongError` when the
    failure is not a recorded refusal."""
    status = status_of(error)
    verdict = rejected_verdict(status)
    if verdict is None:
        raise LienthongError.from_status(status) from None
    return verdict


def verdict_of(message: envelope_pb2.Verdict) -> Verdict:
    """The verdict in a response; a verdict without an outcome is a protocol error."""
    try:
        return Verdict.from_proto(message)
    except ValueError as error:
        raise LienthongError("UNKNOWN", str(error), reason="VERDICT_WITHOUT_OUTCOME") from None


class Closing:
    """``with``: ``close()`` on the way out, however the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ClientBase(Closing):
    """A client over one :class:`Connection`; a context manager that closes it. With
    an ``identity`` it calls over mutual TLS and signs what it sends."""

    def __init__(
        self,
        target: str | grpc.Channel,
        *,
        identity: Identity | None = None,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.2,
    ) -> None:
        self._rpc = Connection(
            target, identity=identity, timeout=timeout, retries=retries, backoff=backoff
        )
        self.signer: Signer | None = identity.signer() if identity is not None else None

    def _signed(self, message: M) -> M:
        """``message`` signed (in place) unless it is already, or there is no key."""
        if self.signer is not None and not message.signature.signature:  # type: ignore[attr-defined]
            self.signer.sign(message)
        return message

    @property
    def channel(self) -> grpc.Channel:
        """The gRPC channel calls go over."""
        return self._rpc.channel

    def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._rpc.owns_channel:
            self._rpc.channel.close()
