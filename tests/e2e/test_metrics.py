"""The API server's metrics, scraped over HTTP after real calls, and its JSON log lines
about a submission."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import grpc
import pytest
from lienthong.v1 import plan_service_pb2, plan_service_pb2_grpc

from projections.views import VIEWS
from services.logs import JsonFormatter
from services.metrics import ADDRESS_ENV, serve_metrics
from tests.e2e.test_grpc_api import PB, envelope, publish
from tests.metrics import labelled, scrape, value

DEADLINE_S = 30.0
POLL_S = 0.1
PUBLISH = "/lienthong.v1.IngestService/Publish"
GET_PLAN = "/lienthong.v1.PlanService/GetPlan"
DURATION = "lienthong_grpc_request_duration_seconds_count"


@pytest.fixture
def metrics_port(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv(ADDRESS_ENV, "127.0.0.1:0")
    port = serve_metrics("serve")
    assert port
    return port


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes, as the processes write it (JSON lines, INFO)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def test_calls_rejections_and_view_lag_are_scraped_from_the_api_server(
    server: object, channel: grpc.Channel, metrics_port: int
) -> None:
    before = scrape(metrics_port)
    accepted = publish(
        channel,
        envelope(
            "phuoc-binh.health-post",
            f"{PB}/task/24",
            progress_reported={"percent": 10, "as_of": "2026-02-10"},
        ),
    )
    assert accepted.reason_code == ""
    with pytest.raises(grpc.RpcError):  # not the lead unit of task 24
        publish(
            channel,
            envelope(
                "phuoc-binh.vhxh",
                f"{PB}/task/24",
                progress_reported={"percent": 20, "as_of": "2026-02-10"},
            ),
        )
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    with pytest.raises(grpc.RpcError):
        plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id="nope-2026"), timeout=20)
    plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id=PB), timeout=20)

    after = scrape(metrics_port)

    def grew(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew(DURATION, method=PUBLISH, code="OK") == 1
    assert grew(DURATION, method=PUBLISH, code="PERMISSION_DENIED") == 1
    assert grew(DURATION, method=GET_PLAN, code="OK") == 1
    assert grew(DURATION, method=GET_PLAN, code="NOT_FOUND") == 1
    assert grew("lienthong_grpc_refusals_total", method=PUBLISH, reason="NOT_LEAD_UNIT") == 1
    assert grew("lienthong_grpc_refusals_total", method=GET_PLAN, reason="NOT_FOUND") == 1
    assert grew("lienthong_submissions_total", outcome="accepted", reason="") == 1
    assert grew("lienthong_submissions_total", outcome="rejected", reason="NOT_LEAD_UNIT") == 1
    assert 0 < grew("lienthong_grpc_request_duration_seconds_sum", method=PUBLISH, code="OK") < 20

    # Every view's lag is served; once the views hold the writes, it is 0.
    deadline = time.monotonic() + DEADLINE_S
    while True:
        lags = labelled(scrape(metrics_port), "lienthong_view_lag_records")
        if {dict(labels)["view"] for labels in lags} == set(VIEWS) and not any(lags.values()):
            break
        assert time.monotonic() < deadline, f"the views' lag stays {lags}"
        time.sleep(POLL_S)
    log_records = value(scrape(metrics_port), "lienthong_log_records")
    assert log_records is not None
    assert log_records > 0
    assert value(scrape(metrics_port), "lienthong_tree_lag_records") is not None


def test_a_submissions_log_lines_are_json_with_its_event_id_and_subject(
    server: object, channel: grpc.Channel, json_lines: io.StringIO
) -> None:
    message = envelope(
        "phuoc-binh.vhxh", f"{PB}/task/24", progress_reported={"percent": 20, "as_of": "2026-02-10"}
    )
    with pytest.raises(grpc.RpcError):
        publish(channel, message)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    about = [line for line in lines if line.get("event_id") == message.event_id]
    assert about, lines
    for line in about:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert line["subject"] == f"{PB}/task/24"
    assert any(
        (line["outcome"], line["reason"], line["level"]) == ("rejected", "NOT_LEAD_UNIT", "INFO")
        for line in about
    )
