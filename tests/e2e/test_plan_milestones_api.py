"""The Party committee's plan 2025–2045 (tests/fixtures/plans/) read back over gRPC
exactly as printed: each milestone as year → printed wording → what the system reads
in it (or "not machine-judged"), its header's span and defaults, a repeated row, the
budget linked to the tasks it funds, and review deadlines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from lienthong.v1 import plan_service_pb2, plan_service_pb2_grpc

from services.app.importer import import_plans
from services.app.ledger import Ledger
from tests.conftest import REGISTRY, ROOT
from tests.e2e.conftest import ServerThread, prepare, routing_channel
from tests.e2e.test_grpc_api import TIMEOUT

FIXTURE = ROOT / "tests" / "fixtures" / "plans" / "binh-phuoc-2025-2045.yaml"
PLAN = "binh-phuoc-2025-2045"


@pytest.fixture
def channel(app: Ledger) -> Iterator[grpc.Channel]:
    prepare(app)
    import_plans(app, [FIXTURE], REGISTRY)
    running = ServerThread(app)
    running.start()
    try:
        with routing_channel(running.port) as open_channel:
            yield open_channel
    finally:
        running.stop()


def printed(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def every_indicator(stub: plan_service_pb2_grpc.PlanServiceStub) -> list[Any]:
    found, token = [], ""
    while True:
        page = stub.ListIndicators(
            plan_service_pb2.ListIndicatorsRequest(plan_id=PLAN, page_size=50, page_token=token),
            timeout=TIMEOUT,
        )
        found += page.indicators
        token = page.next_page_token
        if not token:
            return found


def test_each_milestone_reads_back_as_printed_with_its_reading(channel: grpc.Channel) -> None:
    stub = plan_service_pb2_grpc.PlanServiceStub(channel)
    indicators = {i.number: i for i in every_indicator(stub)}
    file = printed(FIXTURE)
    assert list(indicators) == [i["number"] for i in file["indicators"]]
    for row in file["indicators"]:
        served = indicators[row["number"]]
        assert [(t.period, t.value) for t in served.targets] == [
            (t["period"], t["value"]) for t in row.get("targets", [])
        ], row["number"]
        assert served.title == row["name"]
        assert served.unit == row.get("unit", "")
    signature = indicators["1.1"]
    assert [
        (t.period, t.value, t.comparator, t.machine_judged, t.due) for t in signature.targets
    ] == [
        ("2025", "≥ 40%", ">=", True, "2025-12-31"),
        ("2030", "≥ 70%", ">=", True, "2030-12-31"),
        ("2035", "≥ 80%", ">=", True, "2035-12-31"),
        ("2040", "≥ 90%", ">=", True, "2040-12-31"),
        ("2045", "100%", ">=", True, "2045-12-31"),
    ]
    coverage = indicators["1.2"]
    assert [(t.value, t.comparator, t.machine_judged) for t in coverage.targets] == [
        ("Đảm bảo khả năng 6G >30%", "review", False),
        ("6G >30%", "review", False),
        ("Có > 95%", "review", False),
    ]
    archive = indicators["1.3"]
    assert [(t.value, t.comparator) for t in archive.targets] == [("X", "commitment")] * 2
    assert archive.unit == ""
    online = indicators["1.4"].targets[0]
    assert (online.value, online.comparator) == ("100% & > 50%", "compound")
    assert [(p.value, p.comparator, p.figure) for p in online.parts] == [
        ("100%", ">=", "100"),
        ("> 50%", ">", "50"),
    ]
    assert [(t.figure, t.percent) for t in signature.targets] == [
        ("40", True),
        ("70", True),
        ("80", True),
        ("90", True),
        ("100", True),
    ]
    assert {t.figure for t in coverage.targets} == {""}
    share = indicators["1.5"].targets[0]
    assert [(p.value, p.comparator) for p in share.parts] == [("2,5%", ">="), ("3% GRDP", ">=")]
    assert [a.due for a in signature.attainment] == [t.due for t in signature.targets]
    expected = {a.period: a.expected for a in signature.attainment}
    # read between 2026 and 2030: 2025's trajectory (from 0) is run, 2045's not begun
    assert (expected["2025"], expected["2045"]) == ("40.00", "")
    assert 40 < float(expected["2030"]) < 70
    assert (indicators["2.1"].same_as, indicators["3#2"].printed_number) == ("1.1", "3")
    assert (list(signature.lead), list(signature.monitor)) == (
        ["binh-phuoc.ubnd"],
        ["binh-phuoc.party-office"],
    )


def test_the_header_span_defaults_and_budget_read_back(channel: grpc.Channel) -> None:
    stub = plan_service_pb2_grpc.PlanServiceStub(channel)
    plan = stub.GetPlan(plan_service_pb2.GetPlanRequest(plan_id=PLAN), timeout=TIMEOUT).plan
    assert (plan.number, plan.issued_on, plan.year, plan.end_year) == ("", "", 2025, 2045)
    assert (list(plan.default_lead), list(plan.default_monitor)) == (
        ["binh-phuoc.ubnd"],
        ["binh-phuoc.party-office"],
    )
    assert [(i.number, i.amount, list(i.tasks)) for i in plan.budget.items] == [
        ("1", "1200", ["II.2"]),
        ("2", "300", ["II.1.a", "II.1#2.b"]),
    ]
    task = stub.GetTask(
        plan_service_pb2.GetTaskRequest(name=f"{PLAN}/task/III.1"), timeout=TIMEOUT
    ).task
    assert (task.deadline.text, task.deadline.review, task.deadline.due) == (
        "Sơ kết giữa kỳ năm 2030",
        "mid_term",
        "2030-12-31",
    )
