"""ReportService over a real server (mutual TLS): a plan's periodic report comes back
as the file, opened here (pypdf, openpyxl) and read in Vietnamese; the same request as
known at the same time answers the same bytes; bad requests are refused with their
codes; the office and an auditor may ask, as for PlanService's reads."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from lienthong.v1 import reports_pb2, reports_pb2_grpc
from openpyxl import load_workbook
from pypdf import PdfReader

from domain.keys import Role
from lienthong_sdk.client import AgencyClient, CoordinationClient
from services.app.clock import utc_now
from tests.e2e.conftest import ServerThread
from tests.e2e.test_grpc_api import detail, status_of
from tests.identities import identity

PB = "phuoc-binh-2026"
TIMEOUT = 60
OFFICE = "phuoc-binh.vhxh"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def stamp(moment: dt.datetime) -> Timestamp:
    found = Timestamp()
    found.FromDatetime(moment)
    return found


def reports(channel: grpc.Channel) -> reports_pb2_grpc.ReportServiceStub:
    return reports_pb2_grpc.ReportServiceStub(channel)


def test_the_report_comes_back_as_a_pdf_in_vietnamese(
    server: ServerThread, tls_channel: Callable[..., grpc.Channel]
) -> None:
    answer = reports(tls_channel(OFFICE)).GetReport(
        reports_pb2.GetReportRequest(plan_id=PB, period="2026-Q1", format="pdf"),
        timeout=TIMEOUT,
    )
    assert answer.filename == f"bao-cao-{PB}-2026-Q1.pdf"
    assert answer.media_type == "application/pdf"
    assert (answer.plan_id, answer.period, answer.as_of) == (PB, "2026-Q1", "2026-03-31")
    assert answer.position > 0
    pages = PdfReader(io.BytesIO(answer.content)).pages
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))
    assert "BÁO CÁO KẾT QUẢ THỰC HIỆN KẾ HOẠCH SỐ 09/KH-UBND" in text
    assert "Quý I năm 2026 — phường Phước Bình" in text
    assert "Phòng Văn hóa – Xã hội phường Phước Bình" in text
    assert f"Vị trí nhật ký {answer.position}" in text


def test_the_same_request_as_known_at_the_same_time_answers_the_same_bytes(
    server: ServerThread, tls_channel: Callable[..., grpc.Channel]
) -> None:
    stub = reports(tls_channel("auditor", Role.AUDITOR))
    request = reports_pb2.GetReportRequest(
        plan_id=PB, period="2026-03", format="xlsx", known_at=stamp(utc_now())
    )
    first = stub.GetReport(request, timeout=TIMEOUT)
    again = stub.GetReport(request, timeout=TIMEOUT)
    assert first.content == again.content
    assert first.media_type == XLSX
    workbook = load_workbook(io.BytesIO(first.content))
    assert workbook["Thông tin chung"]["A2"].value == "Tháng 3 năm 2026 — phường Phước Bình"
    assert workbook["II. Nhiệm vụ"]["A2"].value == "Trạng thái"
    assert workbook["II. Nhiệm vụ"]["A2"].font.bold


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        ({"period": "2026-Q1", "format": "pdf"}, "plan_id", "FIELD_REQUIRED"),
        ({"plan_id": PB, "format": "pdf"}, "period", "FIELD_REQUIRED"),
        ({"plan_id": PB, "period": "2026-Q7", "format": "pdf"}, "period", "REPORT_PERIOD_INVALID"),
        ({"plan_id": PB, "period": "Q1/2026", "format": "pdf"}, "period", "REPORT_PERIOD_INVALID"),
        (
            {"plan_id": PB, "period": "2026-Q1", "format": "odt"},
            "format",
            "REPORT_FORMAT_UNSUPPORTED",
        ),
        ({"plan_id": PB, "period": "2199-H2", "format": "pdf"}, "period", "PERIOD_OUT_OF_RANGE"),
        (
            {"plan_id": f"{PB}/task/3", "period": "2026-Q1", "format": "pdf"},
            "plan_id",
            "NOT_A_PLAN",
        ),
    ],
)
def test_a_bad_request_is_refused_with_its_code(
    server: ServerThread,
    tls_channel: Callable[..., grpc.Channel],
    request_fields: dict[str, str],
    field: str,
    reason: str,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        reports(tls_channel(OFFICE)).GetReport(
            reports_pb2.GetReportRequest(**request_fields), timeout=TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = detail(status_of(raised.value), error_details_pb2.BadRequest)
    assert [(v.field, v.reason) for v in found.field_violations] == [(field, reason)]


def test_a_known_at_in_the_future_and_an_unknown_plan_are_refused(
    server: ServerThread, tls_channel: Callable[..., grpc.Channel]
) -> None:
    stub = reports(tls_channel(OFFICE))
    later = stamp(utc_now() + dt.timedelta(hours=1))
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetReport(
            reports_pb2.GetReportRequest(
                plan_id=PB, period="2026-Q1", format="pdf", known_at=later
            ),
            timeout=TIMEOUT,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = detail(status_of(raised.value), error_details_pb2.ErrorInfo)
    assert info.reason == "KNOWN_AT_IN_FUTURE"
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetReport(
            reports_pb2.GetReportRequest(plan_id="nowhere-2026", period="2026-Q1", format="pdf"),
            timeout=TIMEOUT,
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert detail(status_of(raised.value), error_details_pb2.ErrorInfo).reason == "NOT_FOUND"


def test_the_sdk_fetches_the_report_with_what_an_agency_just_reported(
    server: ServerThread, tmp_path: Path
) -> None:
    health = "phuoc-binh.health-post"
    with AgencyClient(server.address, health, identity=identity(health)) as lead:
        reported = lead.report_progress(f"{PB}/task/24", 35, dt.date(2026, 2, 10))
    assert reported.outcome == "accepted"
    with CoordinationClient(server.address, OFFICE, identity=identity(OFFICE)) as office:
        answer = office.get_report(PB, "2026-Q1", "xlsx", save_to=tmp_path)
    assert answer.position >= reported.position
    saved = tmp_path / f"bao-cao-{PB}-2026-Q1.xlsx"
    assert saved.read_bytes() == answer.content
    tasks = load_workbook(saved)["II. Nhiệm vụ"]
    (row,) = [r for r in tasks.iter_rows(values_only=True) if r[1] == "24"]
    assert (row[0], row[3], row[6]) == ("Đang thực hiện", "Trạm Y tế phường Phước Bình", 35)
