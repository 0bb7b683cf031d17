"""The store away, as callers and probes hear of it: a write refused UNAVAILABLE with
``STORE_UNAVAILABLE`` and a ``RetryInfo`` (never UNKNOWN, and never the database's
own words), and health that says NOT_SERVING for ``""`` and the store's services
until the views are back — for good once they stopped."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import InterfaceError, OperationalError
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health, health_pb2

from projections.engine.live import LiveViews, StoreAwayError, ViewsStoppedError
from services.app.submissions import TryAgainError
from services.grpc.errors import status_of
from services.grpc.server import (
    REPORTING,
    SERVICES,
    STORE_SERVICES,
    not_serving,
    store_health,
)

DATABASE_WORDS = "connection to server on socket /var/run/secret-host/.s.PGSQL.5432 failed"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def detail(status: Any, kind: Any) -> Any:
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            found = kind()
            packed.Unpack(found)
            return found
    return None


@pytest.mark.parametrize(
    "error",
    [
        OperationalError(DATABASE_WORDS),  # as the eventsourcing library wraps it
        InterfaceError(DATABASE_WORDS),
        psycopg.OperationalError(DATABASE_WORDS),  # as psycopg raises it (our own SQL)
        psycopg.InterfaceError(DATABASE_WORDS),
        StoreAwayError(DATABASE_WORDS),  # refused at once: the views' follower knows
    ],
    ids=lambda e: type(e).__module__.split(".")[0] + "." + type(e).__name__,
)
def test_the_store_away_answers_unavailable_store_unavailable_with_a_retry_delay(
    error: Exception,
) -> None:
    status = status_of(error)
    assert status is not None
    assert status.code == code_pb2.UNAVAILABLE
    assert detail(status, error_details_pb2.ErrorInfo).reason == "STORE_UNAVAILABLE"
    assert detail(status, error_details_pb2.RetryInfo).retry_delay.seconds > 0
    assert "secret-host" not in status.message  # the database's words stay in the log
    assert status.message.startswith("Kho dữ liệu")  # Vietnamese first, as every refusal


def test_a_busy_store_is_still_its_own_reason() -> None:
    status = status_of(TryAgainError("STORE_BUSY", "locked"))
    assert status is not None
    assert status.code == code_pb2.ABORTED
    assert detail(status, error_details_pb2.ErrorInfo).reason == "STORE_BUSY"


def test_the_write_path_refuses_at_once_while_the_follower_cannot_reach_the_store() -> None:
    live = LiveViews.__new__(LiveViews)  # the flags only: no store behind it
    live.read_only, live.unreachable = False, False
    live.require_store()
    live.unreachable = True
    with pytest.raises(StoreAwayError):
        live.require_store()
    live.read_only = True  # writes go to the primary, the follower reads a standby
    live.require_store()


def statuses(servicer: health.aio.HealthServicer) -> dict[str, int]:
    return {name: servicer._server_status[name] for name in ("", *SERVICES)}


async def reported() -> None:
    """Until every health task set so far has set its statuses."""
    await asyncio.gather(*list(REPORTING))


def test_health_says_not_serving_for_the_store_s_services_while_it_is_away() -> None:
    async def scenario() -> list[dict[str, int]]:
        servicer = health.aio.HealthServicer()
        for name in ("", *SERVICES):
            await servicer.set(name, SERVING)
        live = SimpleNamespace(failure=None)
        seen = []
        for away in (True, False):
            store_health(servicer, live, away)  # type: ignore[arg-type]
            await reported()
            seen.append(statuses(servicer))
        # away again, and the views stop meanwhile: back does not make them SERVING
        store_health(servicer, live, away=True)  # type: ignore[arg-type]
        live.failure = ViewsStoppedError("stopped")
        not_serving(servicer)
        store_health(servicer, live, away=False)  # type: ignore[arg-type]
        await reported()
        seen.append(statuses(servicer))
        return seen

    away, back, stopped = asyncio.run(scenario())
    assert {n for n, s in away.items() if s == NOT_SERVING} == {"", *STORE_SERVICES}
    assert set(away) - {"", *STORE_SERVICES} == {
        "lienthong.v1.PlanService",
        "lienthong.v1.WatchService",
        "lienthong.v1.ReportService",
    }
    assert set(back.values()) == {SERVING}
    assert set(stopped.values()) == {NOT_SERVING}
