"""Following the API live (``WatchService``): a stream of events, or of a view's
changed rows, that the caller iterates and may cancel from another thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from lienthong.v1 import watch_service_pb2

from lienthong_sdk._rpc import Closing, status_of
from lienthong_sdk.verdicts import LienthongError


class Watch(Closing):
    """An open ``WatchChanges`` stream: iterate it for each
    ``lienthong.v1.WatchChangesResponse``; :meth:`cancel` (from any thread) ends the
    iteration quietly. A refusal (an unknown plan, a view that is not watched) or a
    lost connection raises :class:`LienthongError` while iterating."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self.cancelled = False

    def __iter__(self) -> Iterator[watch_service_pb2.WatchChangesResponse]:
        try:
            yield from self._call
        except grpc.RpcError as error:
            if self.cancelled:
                return
            raise LienthongError.from_status(status_of(error)) from None

    def close(self) -> None:
        """The same as :meth:`cancel` (``with`` calls it)."""
        self.cancel()

    def cancel(self) -> None:
        """End the stream (the server stops sending)."""
        self.cancelled = True
        self._call.cancel()
