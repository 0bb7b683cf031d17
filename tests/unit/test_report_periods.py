"""A report's period, format and day (services/reports/periods.py): pure."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.errors import DomainError
from domain.reporting import period_name
from services.reports.periods import (
    check_format,
    check_known_at,
    parse_period,
    report_day,
)


@pytest.mark.parametrize(
    ("label", "first", "last", "name"),
    [
        ("2026-03", dt.date(2026, 3, 1), dt.date(2026, 3, 31), "Tháng 3 năm 2026"),
        ("2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "Quý I năm 2026"),
        ("2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31), "Quý IV năm 2026"),
        ("2026-H1", dt.date(2026, 1, 1), dt.date(2026, 6, 30), "6 tháng đầu năm 2026"),
        ("2026-H2", dt.date(2026, 7, 1), dt.date(2026, 12, 31), "6 tháng cuối năm 2026"),
        ("2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "Năm 2026"),
    ],
)
def test_a_period_label_names_its_days_and_its_vietnamese_name(
    label: str, first: dt.date, last: dt.date, name: str
) -> None:
    period = parse_period(label)
    assert (period.first, period.last, period.label) == (first, last, label)
    assert period_name(period) == name


@pytest.mark.parametrize(
    "label", ["", "2026-Q5", "2026-Q0", "2026-H3", "2026-13", "2026-3", "26-Q1", "1969", "2200",
              "Quý I/2026", "2026-q1", " 2026", "2026-Q1 ", "2026-Q1\n", "２０２６"],
)  # fmt: skip
def test_anything_else_is_refused_report_period_invalid(label: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_period(label)
    assert (refused.value.code, refused.value.field) == ("REPORT_PERIOD_INVALID", "period")


@pytest.mark.parametrize("name", ["", "XLSX", "docx", "csv", "pdf "])
def test_a_format_other_than_xlsx_and_pdf_is_refused(name: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_format(name)
    assert refused.value.code == "REPORT_FORMAT_UNSUPPORTED"
    assert [check_format("xlsx"), check_format("pdf")] == ["xlsx", "pdf"]


def test_a_report_is_as_of_the_period_end_or_the_day_while_it_runs() -> None:
    q1 = parse_period("2026-Q1")
    assert report_day(q1, dt.date(2026, 12, 3)) == dt.date(2026, 3, 31)
    assert report_day(q1, dt.date(2026, 2, 14)) == dt.date(2026, 2, 14)
    with pytest.raises(DomainError) as refused:
        report_day(parse_period("2026-Q2"), dt.date(2026, 3, 31))
    assert refused.value.code == "PERIOD_OUT_OF_RANGE"


def test_a_known_at_after_the_clock_is_refused() -> None:
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    check_known_at(None, now)
    check_known_at(now, now)
    with pytest.raises(DomainError) as refused:
        check_known_at(now + dt.timedelta(seconds=1), now)
    assert refused.value.code == "KNOWN_AT_IN_FUTURE"
