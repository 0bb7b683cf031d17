"""Contention never loses a submission: hundreds of agency systems' reports on ONE
indicator at once, over many channels, through the real server on a real PostgreSQL.
Each ends accepted (or as the duplicate of its own accepted first try, when the SDK
retried), and each is recorded exactly once."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from lienthong_sdk import envelopes
from lienthong_sdk.client import AgencyClient
from tests.e2e.conftest import ServerThread
from tests.identities import identity

PB = "phuoc-binh-2026"
KPI = f"{PB}/indicator/7"
HEALTH = "phuoc-binh.health-post"
SUBMISSIONS, CHANNELS = 400, 16
MEASURED = "lienthong.indicator.Measured"


def test_hundreds_of_concurrent_reports_on_one_indicator_are_each_recorded_once(
    server: ServerThread,
) -> None:
    reports = [
        envelopes.indicator_measured(
            KPI,
            value=50 + i % 50,
            unit="%",
            period="2026-02",
            as_of=dt.date(2026, 2, 28),
            agency_id=HEALTH,
        )
        for i in range(SUBMISSIONS)
    ]
    clients = [
        AgencyClient(server.address, HEALTH, identity=identity(HEALTH), timeout=60)
        for _ in range(CHANNELS)
    ]
    try:
        with ThreadPoolExecutor(max_workers=4 * CHANNELS) as pool:
            verdicts = list(
                pool.map(lambda i: clients[i % CHANNELS].publish(reports[i]), range(SUBMISSIONS))
            )
    finally:
        for client in clients:
            client.close()
    outcomes = {(v.outcome, v.first_outcome or v.outcome) for v in verdicts}
    assert outcomes <= {("accepted", "accepted"), ("duplicate", "accepted")}
    recorded = [e["message_id"] for e in server.app.events_of(KPI) if e["topic"] == MEASURED]
    assert sorted(recorded) == sorted(r.event_id for r in reports)
