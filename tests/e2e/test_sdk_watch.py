"""The SDK's ``CoordinationClient.watch``: WatchService's stream as an iterator that a
refusal makes raise and ``cancel`` ends quietly (what the dashboard follows)."""

from __future__ import annotations

import datetime as dt
import queue
import threading

import pytest

from domain.keys import Role
from lienthong_sdk import AgencyClient, CoordinationClient, LienthongError
from tests import identities
from tests.e2e.conftest import ServerThread

PLAN = "phuoc-binh-2026"
WAIT_SECONDS = 30


def test_watch_streams_a_plans_events_until_cancelled(server: ServerThread) -> None:
    health = identities.identity("phuoc-binh.health-post")
    with AgencyClient(server.address, "phuoc-binh.health-post", identity=health) as agency:
        verdict = agency.report_progress(f"{PLAN}/task/24", 35, dt.date(2026, 5, 2))
    assert verdict.outcome == "accepted"
    auditor = identities.identity("auditor", Role.AUDITOR)
    with CoordinationClient(server.address, "auditor", identity=auditor) as client:
        watch = client.watch(plan_id=PLAN, from_position=verdict.position)
        received: queue.Queue[object] = queue.Queue()

        def follow() -> None:
            for message in watch:
                received.put(message)
            received.put("ended")

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        message = received.get(timeout=WAIT_SECONDS)
        assert message.event.position == verdict.position  # type: ignore[attr-defined]
        assert message.event.subject == f"{PLAN}/task/24"  # type: ignore[attr-defined]
        assert message.event.topic == "lienthong.task.ProgressReported"  # type: ignore[attr-defined]
        watch.cancel()
        while received.get(timeout=WAIT_SECONDS) != "ended":
            pass  # events recorded after the report (its receipt) may come before the end
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive()


def test_watching_an_unknown_plan_raises_not_found(server: ServerThread) -> None:
    auditor = identities.identity("auditor", Role.AUDITOR)
    with (
        CoordinationClient(server.address, "auditor", identity=auditor) as client,
        pytest.raises(LienthongError) as refused,
    ):
        list(client.watch(plan_id="no-such-plan"))
    assert refused.value.code == "NOT_FOUND"
