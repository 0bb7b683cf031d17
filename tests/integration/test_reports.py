"""Periodic reports on a real PostgreSQL: a scripted first quarter of Phước Bình, its
report built, rendered as XLSX and PDF, and read back — the workbook with openpyxl,
the PDF's text with pypdf — section by section, diacritics included; the same report
as known at a time, built before and after a later correction, byte for byte; and
``lienthong report`` with its refusals' codes."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from openpyxl import load_workbook
from psycopg import sql
from pypdf import PdfReader

from domain.clock import ward_day
from domain.messages import vietnamese
from domain.reporting import period_from_label, period_of
from services.app.clock import utc_now
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.cli import main
from services.reports import render
from services.reports.gather import report_on_store
from services.store.database import Database, ensure_database
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY

PB = "phuoc-binh-2026"
Q1 = period_from_label("2026-Q1")
CENTRE = "Trung tâm Phục vụ hành chính công phường Phước Bình"
HEALTH_POST = "Trạm Y tế phường Phước Bình"
OBSTACLE = "Chưa được cấp quyền kết nối VNeID"
REJECTED = "Văn bản hướng dẫn số hóa quy trình"
VIETNAMESE = "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđĐ"


def at(agency: str, day: str) -> Actor:
    moment = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(9), dt.UTC)
    return Actor(agency, channel="test", occurred_at=moment)


def evidence(name: str, description: str) -> dict[str, str]:
    return {
        "sha256": uuid.uuid5(uuid.NAMESPACE_URL, name).hex * 2,
        "uri": f"https://evidence.example.vn/{name}",
        "media_type": "application/pdf",
        "description": description,
    }


@dataclass
class Quarter:
    app: Ledger
    known_at: dt.datetime  # after the quarter, before the late correction
    early: dict[str, bytes]  # the report as built then, by format


def play_quarter(app: Ledger) -> None:
    centre, office, health = "phuoc-binh.ttpvhcc", "phuoc-binh.vhxh", "phuoc-binh.health-post"
    task8, task23 = f"{PB}/task/8", f"{PB}/task/23"
    scan = evidence("pb-hd-quy-trinh.pdf", REJECTED)
    execute(
        app,
        "progress_reported",
        task8,
        at(centre, "2026-02-10"),
        {"percent": 70, "as_of": dt.date(2026, 2, 10)},
    )
    execute(app, "completion_claimed", task8, at(centre, "2026-03-05"), {}, [scan])
    execute(
        app,
        "evidence_rejected",
        task8,
        at(office, "2026-03-09"),
        {"sha256": scan["sha256"], "reason": "Văn bản chưa ký, chưa đóng dấu"},
    )
    execute(
        app,
        "obstacle_raised",
        f"{PB}/task/24",
        at(health, "2026-03-12"),
        {"obstacle_id": "vneid-api", "kind": "blocker", "description": OBSTACLE},
    )
    execute(
        app,
        "progress_reported",
        task23,
        at(centre, "2026-01-31"),
        {"percent": 20, "as_of": dt.date(2026, 1, 31)},
    )
    version = execute(
        app,
        "progress_reported",
        task23,
        at(centre, "2026-02-28"),
        {"percent": 35, "as_of": dt.date(2026, 2, 28)},
    )
    execute(
        app,
        "report_corrected",
        task23,
        at(centre, "2026-03-01"),
        {"report_version": version, "percent": 25, "reason": "Nhập nhầm số hồ sơ tháng 2"},
    )
    execute(
        app,
        "indicator_measured",
        f"{PB}/indicator/3.1",
        at(centre, "2026-03-31"),
        {"value": "62", "unit": "%", "period": "2026-Q1", "as_of": dt.date(2026, 3, 31)},
    )


@pytest.fixture(scope="module")
def quarter(postgres: Database) -> Iterator[Quarter]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    app = Ledger(env=ensure_database(postgres, name).eventsourcing_env())
    import_plans(app, PLANS, REGISTRY)
    play_quarter(app)
    known_at = utc_now()
    report = report_on_store(app, PB, Q1, known_at)
    early = {fmt: render(report, fmt) for fmt in ("xlsx", "pdf")}
    # Recorded after known_at: a correction of the quarter's measurement.
    version = app.item(f"{PB}/indicator/3.1").version
    execute(
        app,
        "measurement_corrected",
        f"{PB}/indicator/3.1",
        at("phuoc-binh.ttpvhcc", "2026-03-31"),
        {
            "measurement_version": version,
            "value": "64",
            "unit": "%",
            "reason": "Số liệu bổ sung của tháng 3",
        },
    )
    yield Quarter(app, known_at, early)
    app.close()
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    workbook = load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook}


def rows_with(rows: list[tuple[Any, ...]], text: str) -> list[tuple[Any, ...]]:
    return [row for row in rows if any(text in str(cell) for cell in row if cell is not None)]


def pdf_text(data: bytes) -> str:
    """The PDF's text, lines joined by spaces (a cell wraps its words over lines)."""
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_the_xlsx_report_holds_each_section_in_vietnamese(quarter: Quarter) -> None:
    report = report_on_store(quarter.app, PB, Q1, None)
    found = sheets(render(report, "xlsx"))
    assert list(found) == [
        "Thông tin chung",
        "I. Chỉ tiêu",
        "II. Nhiệm vụ",
        "III.1 Quá hạn",
        "III.2 Cờ đỏ",
        "IV. Chờ hoàn thiện",
        "V. Vướng mắc",
        "VI. Xếp hạng",
        "VII. Chưa báo cáo",
        "VIII. Đính chính",
    ]
    header = dict(row[:2] for row in found["Thông tin chung"][3:])
    assert header["Kế hoạch"] == f"Số 09/KH-UBND ({PB})"
    assert header["Phường"] == "Phước Bình, Đồng Nai"
    assert header["Kỳ báo cáo"] == "Quý I năm 2026 (2026-Q1: 01/01/2026 – 31/03/2026)"
    assert header["Số liệu tính đến ngày"] == "31/03/2026"
    assert header["Vị trí nhật ký"] == str(report.position)
    # KPIs: the period's target beside the latest value (the correction applied).
    (kpi,) = [row for row in found["I. Chỉ tiêu"] if row[0] == "3.1"]
    assert kpi[3:6] == ("90 (2026)", "64 (2026-Q1)", "Chưa đạt")
    # Tasks by status, with their lead units; task 8 "Chờ hoàn thiện".
    assert found["II. Nhiệm vụ"][1][:4] == ("Trạng thái", "Số", "Nhiệm vụ", "Đơn vị chủ trì")
    (task8,) = [row for row in found["II. Nhiệm vụ"] if row[1] == "8"]
    assert (task8[0], task8[3]) == ("Chờ hoàn thiện", CENTRE)
    assert "Minh chứng chất lượng thấp" in task8[7]
    (awaiting,) = found["IV. Chờ hoàn thiện"][2:]
    assert awaiting[0] == "Nhiệm vụ 8"
    assert awaiting[2:] == (CENTRE, REJECTED)
    flags = rows_with(found["III.2 Cờ đỏ"], "LOW_QUALITY_EVIDENCE")
    assert [row[0] for row in flags] == ["Nhiệm vụ 8"]
    (obstacle,) = found["V. Vướng mắc"][2:]
    assert obstacle[2:] == ("vneid-api", OBSTACLE, HEALTH_POST, "12/03/2026")
    ranking = found["VI. Xếp hạng"]
    assert ranking[1][:3] == ("Hạng", "Đơn vị", "Điểm (0–100)")
    assert ranking[2][0] == "1"
    assert rows_with(ranking, CENTRE)
    owed = found["VII. Chưa báo cáo"][2:]
    assert owed
    assert rows_with(owed, HEALTH_POST)
    corrections = found["VIII. Đính chính"][2:]
    assert [(row[2], row[5], row[6]) for row in corrections] == [
        ("Nhiệm vụ 23", "tiến độ (%): 35 → 25", "Nhập nhầm số hồ sơ tháng 2"),
        ("Chỉ tiêu 3.1", "giá trị: 62 → 64", "Số liệu bổ sung của tháng 3"),
    ]
    workbook = load_workbook(io.BytesIO(render(report, "xlsx")))
    tasks = workbook["II. Nhiệm vụ"]
    assert all(cell.font.bold for cell in tasks[2])
    assert tasks.column_dimensions["C"].width == 60


def test_the_pdf_report_embeds_its_font_and_reads_back_in_vietnamese(quarter: Quarter) -> None:
    data = render(report_on_store(quarter.app, PB, Q1, None), "pdf")
    text = pdf_text(data)
    for expected in (
        "BÁO CÁO KẾT QUẢ THỰC HIỆN KẾ HOẠCH SỐ 09/KH-UBND",
        "Quý I năm 2026 — phường Phước Bình",
        "I. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU",
        "IV. CÁC NỘI DUNG “CHỜ HOÀN THIỆN”",
        "Chờ hoàn thiện",
        CENTRE,
        HEALTH_POST,
        OBSTACLE,
        "Nhập nhầm số hồ sơ tháng 2",
        "VII. ĐƠN VỊ CHƯA GỬI BÁO CÁO",
    ):
        assert expected in text, expected
    fonts = {
        str(font["/BaseFont"]): font
        for page in PdfReader(io.BytesIO(data)).pages
        for font in (f.get_object() for f in page["/Resources"]["/Font"].values())
    }
    assert fonts
    for name, font in fonts.items():
        assert "DejaVuSans" in name  # a subset of the committed TTF, embedded:
        assert "/FontFile2" in font["/FontDescriptor"]


def test_the_font_writes_every_vietnamese_letter(tmp_path: Path) -> None:
    from services.reports.model import Report, Table  # noqa: PLC0415

    table = Table("s", "Chữ", ("Chữ",), (10,), ((VIETNAMESE,), (VIETNAMESE.upper(),)))
    report = Report(PB, Q1, "Tiêu đề", "Phụ đề", (), (table,), Q1.last, 0, None, None)
    text = pdf_text(render(report, "pdf"))
    assert VIETNAMESE in text
    assert VIETNAMESE.upper() in text


def test_a_report_as_known_at_a_time_is_the_same_bytes_after_later_records(
    quarter: Quarter,
) -> None:
    again = report_on_store(quarter.app, PB, Q1, quarter.known_at)
    assert render(again, "xlsx") == quarter.early["xlsx"]
    assert render(again, "pdf") == quarter.early["pdf"]
    # Known then: the measurement before its correction, which is not listed yet.
    found = sheets(quarter.early["xlsx"])
    (kpi,) = [row for row in found["I. Chỉ tiêu"] if row[0] == "3.1"]
    assert kpi[4] == "62 (2026-Q1)"
    assert not rows_with(found["VIII. Đính chính"], "giá trị")
    header = dict(row[:2] for row in found["Thông tin chung"][3:])
    assert header["Dữ liệu ghi nhận đến"].startswith(quarter.known_at.isoformat()[:19])
    # As known now, the correction shows: another document.
    now = report_on_store(quarter.app, PB, Q1, None)
    assert now.position > again.position
    assert render(now, "xlsx") != quarter.early["xlsx"]


def test_a_running_period_is_stated_as_of_the_ward_day_known_at(quarter: Quarter) -> None:
    day = ward_day(quarter.known_at)
    month = period_of(day, "monthly")
    report = report_on_store(quarter.app, PB, month, quarter.known_at)
    assert report.as_of == day
    header = dict(report.header)
    assert header["Số liệu tính đến ngày"] == day.strftime("%d/%m/%Y")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_report_command_writes_the_file_and_refuses_bad_input_with_codes(
    configured: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    target = tmp_path / "q1.pdf"
    code, out, _ = run(
        capsys,
        "report",
        "--plan",
        PB,
        "--period",
        "2026-Q1",
        "--format",
        "pdf",
        "--output",
        str(target),
    )
    assert code == 0
    assert out.startswith(f"{target}: {PB} 2026-Q1 as of 2026-03-31, log position ")
    assert "Phòng Văn hóa – Xã hội phường Phước Bình" in pdf_text(target.read_bytes())
    code, out, _ = run(
        capsys, "report", "--plan", PB, "--period", "2026-03", "--output", str(tmp_path / "m.xlsx")
    )
    assert code == 0
    assert sheets((tmp_path / "m.xlsx").read_bytes())["Thông tin chung"][1] == (
        "Tháng 3 năm 2026 — phường Phước Bình",
        None,
    )
    future = (utc_now() + dt.timedelta(days=1)).isoformat()
    for args, expected in (
        (("--period", "2026-Q5"), "REPORT_PERIOD_INVALID"),
        (("--period", "Quý I/2026"), "REPORT_PERIOD_INVALID"),
        (("--period", "2026-Q1", "--format", "docx"), "REPORT_FORMAT_UNSUPPORTED"),
        (("--period", "2199"), "PERIOD_OUT_OF_RANGE"),
        (("--period", "2026-Q1", "--known-at", future), "KNOWN_AT_IN_FUTURE"),
    ):
        code, out, err = run(capsys, "report", "--plan", PB, *args, "--output", str(tmp_path / "x"))
        assert (code, out) == (2, ""), args
        assert err.startswith(f"error: {expected}: "), (args, err)
    code, _, err = run(capsys, "report", "--plan", "nowhere-2026", "--period", "2026-Q1")
    assert code == 2
    assert err.startswith(f"error: NOT_FOUND: {vietnamese('NOT_FOUND')} — plan nowhere-2026")
    assert not (tmp_path / "x").exists()
