"""Deadlines as the ward plans word them."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.deadlines import (
    Deadline,
    DeadlineKind,
    Recurrence,
    parse_deadline,
    period_end,
)
from domain.errors import UnrecognisedDeadlineError

D = date
K = DeadlineKind
R = Recurrence


@pytest.mark.parametrize(
    ("text", "recurrence"),
    [
        ("Thường xuyên", R.CONTINUOUS),
        ("Nhiệm vụ thường xuyên.", R.CONTINUOUS),
        ("Thường xuyên.", R.CONTINUOUS),
        ("thường xuyên", R.CONTINUOUS),
        ("Hàng năm", R.YEARLY),
        ("Hằng năm", R.YEARLY),
        ("hằng năm.", R.YEARLY),
        ("Hằng quý", R.QUARTERLY),
        ("hàng tháng, quý", R.MONTHLY),
        ("Hàng tháng", R.MONTHLY),
    ],
)
def test_a_recurring_duty_has_no_due_date(text: str, recurrence: Recurrence) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.RECURRING
    assert deadline.recurrence is recurrence
    assert deadline.due is None
    assert deadline.starts is None


@pytest.mark.parametrize(
    ("text", "recurrences"),
    [
        ("hàng năm hoặc đột xuất", (R.YEARLY, R.AD_HOC)),
        (
            "Định kỳ 3 tháng, 6 tháng, 1 năm hoặc đột xuất",
            (R.QUARTERLY, R.HALF_YEARLY, R.YEARLY, R.AD_HOC),
        ),
        (
            "định kỳ hàng tháng, 3 tháng, 6 tháng, 1 năm",
            (R.MONTHLY, R.QUARTERLY, R.HALF_YEARLY, R.YEARLY),
        ),
        ("theo tháng, quý, 6 tháng, 1 năm", (R.MONTHLY, R.QUARTERLY, R.HALF_YEARLY, R.YEARLY)),
        ("hàng tháng, quý", (R.MONTHLY, R.QUARTERLY)),
        ("6 tháng và 1 năm", (R.HALF_YEARLY, R.YEARLY)),
        ("Đột xuất", (R.AD_HOC,)),
    ],
)
def test_a_duty_on_several_cycles_is_judged_by_its_finest(
    text: str, recurrences: tuple[Recurrence, ...]
) -> None:
    deadline = parse_deadline(text)
    assert (deadline.kind, deadline.due, deadline.authority) == (K.RECURRING, None, None)
    assert deadline.recurrences == recurrences
    assert deadline.recurrence is recurrences[0]
    assert Deadline.from_dict(deadline.to_dict()) == deadline


def test_a_cycle_of_years_recurs_every_so_many_months() -> None:
    deadline = parse_deadline("chu kỳ 2,5 năm")
    assert (deadline.kind, deadline.recurrence, deadline.every_months) == (
        K.RECURRING,
        R.CYCLE,
        30,
    )
    assert Deadline.from_dict(deadline.to_dict()) == deadline


def test_a_duty_for_this_year_and_the_years_after_recurs_yearly_from_it() -> None:
    deadline = parse_deadline("Năm 2026 và các năm tiếp theo.")
    assert deadline.kind is K.RECURRING
    assert deadline.recurrence is R.YEARLY
    assert deadline.starts == D(2026, 1, 1)
    assert deadline.due is None


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("Quý I/2026", D(2026, 3, 31)),
        ("Quý II/2026", D(2026, 6, 30)),
        ("Quý III/2026.", D(2026, 9, 30)),
        ("Quý IV/2026", D(2026, 12, 31)),
        ("quý iv/2026", D(2026, 12, 31)),
        ("Quý 1/2026", D(2026, 3, 31)),
        ("Quý 2 / 2027", D(2027, 6, 30)),
        ("Quý 3/2026", D(2026, 9, 30)),
        ("  Quý   4/2026 ", D(2026, 12, 31)),
    ],
)
def test_a_quarter_is_due_on_its_last_day(text: str, due: date) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.QUARTER
    assert deadline.due == due


def test_the_first_half_of_a_year_is_due_at_the_end_of_june() -> None:
    deadline = parse_deadline("6 tháng đầu năm 2026")
    assert deadline.kind is K.HALF_YEAR
    assert deadline.due == D(2026, 6, 30)


def test_the_second_half_of_a_year_is_due_at_its_end() -> None:
    assert parse_deadline("6 tháng cuối năm 2026").due == D(2026, 12, 31)


@pytest.mark.parametrize(
    ("text", "qualifier"),
    [
        ("Năm 2026", None),
        ("Năm 2026.", None),
        ("NĂM 2026", None),
        ("Đến hết năm 2026", None),
        ("Năm 2026 (hoàn thành phê duyệt Đề án).", "(hoàn thành phê duyệt Đề án)"),
        (
            "Năm 2026 hoàn thành ban hành Kế hoạch và triển khai nhiệm vụ năm 2026.",
            "hoàn thành ban hành Kế hoạch và triển khai nhiệm vụ năm 2026",
        ),
    ],
)
def test_a_year_is_due_on_the_last_day_of_december(text: str, qualifier: str | None) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.YEAR
    assert deadline.due == D(2026, 12, 31)
    assert deadline.qualifier == qualifier


@pytest.mark.parametrize(
    ("text", "authority", "due"),
    [
        (
            "Theo Kế hoạch của UBND tỉnh năm 2026",
            "Kế hoạch của UBND tỉnh năm 2026",
            D(2026, 12, 31),
        ),
        (
            "Thực hiện theo kế hoạch của UBND tỉnh năm 2026",
            "kế hoạch của UBND tỉnh năm 2026",
            D(2026, 12, 31),
        ),
        (
            "Theo Đề án của UBND tỉnh năm 2026",
            "Đề án của UBND tỉnh năm 2026",
            D(2026, 12, 31),
        ),
        (
            "Phân kỳ năm 2026 theo Quyết định số 204-QĐ/TW.",
            "Quyết định số 204-QĐ/TW",
            D(2026, 12, 31),
        ),
        ("Theo Kế hoạch", "Kế hoạch", None),
    ],
)
def test_a_deferred_deadline_names_its_authority_and_the_end_of_its_year(
    text: str, authority: str, due: date | None
) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.DEFERRED
    assert deadline.authority == authority
    assert deadline.due == due


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("trước ngày 15/02/2026", D(2026, 2, 14)),
        ("trước ngày 30/01/2026", D(2026, 1, 29)),
        ("trước ngày 01/01/2026", D(2025, 12, 31)),
        ("trước ngày 31/12/2030", D(2030, 12, 30)),
        ("Trước ngày 1/3/2026", D(2026, 2, 28)),
        ("trước ngày 30 /01/2026", D(2026, 1, 29)),
    ],
)
def test_before_a_date_means_by_the_day_before(text: str, due: date) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.DATE
    assert deadline.due == due


@pytest.mark.parametrize(
    "text", ["ngày 15/02/2026", "đến ngày 15/02/2026", "15/02/2026", "chậm nhất ngày 15/02/2026"]
)
def test_on_or_until_a_date_means_on_that_day(text: str) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.DATE
    assert deadline.due == D(2026, 2, 15)


@pytest.mark.parametrize("text", [None, "", "   "])
def test_a_missing_deadline_is_unspecified(text: str | None) -> None:
    deadline = parse_deadline(text)
    assert deadline.kind is K.UNSPECIFIED
    assert deadline.due is None
    assert deadline.text == (text or "")


def test_the_original_wording_is_kept_exactly() -> None:
    assert parse_deadline(" Quý III/2026. ").text == " Quý III/2026. "


@pytest.mark.parametrize(
    "text",
    [
        "trước ngày 31/02/2026",
        "ngày 29/02/2026",
        "trước ngày 00/01/2026",
        "Quý V/2026",
        "Quý 5/2026",
        "Quý 0/2026",
        "Quý I/0000",
        "garbage",
        "31/02/2026",
        "sớm nhất có thể",
    ],
)
def test_an_unrecognised_deadline_is_refused_naming_its_text(text: str) -> None:
    with pytest.raises(UnrecognisedDeadlineError) as caught:
        parse_deadline(text)
    assert caught.value.code == "DEADLINE_UNRECOGNISED"
    assert text in caught.value.message
    assert caught.value.field is None


@pytest.mark.parametrize(
    ("year", "quarter", "end"),
    [
        (2026, None, D(2026, 12, 31)),
        (2026, 1, D(2026, 3, 31)),
        (2026, 2, D(2026, 6, 30)),
        (2026, 3, D(2026, 9, 30)),
        (2026, 4, D(2026, 12, 31)),
    ],
)
def test_a_period_ends_on_its_last_day(year: int, quarter: int | None, end: date) -> None:
    assert period_end(year, quarter) == end


def test_there_is_no_fifth_quarter() -> None:
    with pytest.raises(ValueError, match="quarter"):
        period_end(2026, 5)


def test_a_malformed_record_is_refused() -> None:
    with pytest.raises(UnrecognisedDeadlineError) as caught:
        Deadline.from_dict({"text": "x", "kind": "soon"})
    assert caught.value.code == "DEADLINE_UNRECOGNISED"


def test_the_plain_form_uses_iso_dates() -> None:
    assert parse_deadline("trước ngày 15/02/2026").to_dict() == {
        "text": "trước ngày 15/02/2026",
        "kind": "date",
        "due": "2026-02-14",
        "starts": None,
        "recurrence": None,
        "authority": None,
        "qualifier": None,
        "recurrences": None,
        "every_months": None,
    }


_ROMAN = ("I", "II", "III", "IV")
_FIXED = (
    "Thường xuyên",
    "Hằng năm",
    "hàng tháng, quý",
    "Năm 2026 và các năm tiếp theo.",
    "Năm 2026 (hoàn thành phê duyệt Đề án).",
    "Theo Kế hoạch của UBND tỉnh năm 2026",
    "Phân kỳ năm 2026 theo Quyết định số 204-QĐ/TW.",
    "6 tháng đầu năm 2026",
    "",
)
_years = st.integers(min_value=1900, max_value=2999)
_wordings = st.one_of(
    st.sampled_from(_FIXED),
    st.builds("Quý {}/{}".format, st.sampled_from(_ROMAN), _years),
    st.builds("Năm {}".format, _years),
    st.builds(
        lambda day, before: f"{before}ngày {day:%d/%m/%Y}",
        st.dates(min_value=D(1900, 1, 2), max_value=D(2999, 12, 31)),
        st.sampled_from(["", "trước ", "đến "]),
    ),
)


@given(_wordings)
def test_a_parsed_deadline_survives_its_plain_form(text: str) -> None:
    deadline = parse_deadline(text)
    plain = json.loads(json.dumps(deadline.to_dict()))
    assert Deadline.from_dict(plain) == deadline


@pytest.mark.parametrize(
    ("text", "kind", "due", "review"),
    [
        ("Sơ kết giữa kỳ năm 2030", "year", date(2030, 12, 31), "mid_term"),
        ("Sơ kết 5 năm (năm 2030)", "year", date(2030, 12, 31), "mid_term"),
        ("Tổng kết năm 2045", "year", date(2045, 12, 31), "end_of_term"),
        ("Giữa kỳ", "unspecified", None, "mid_term"),
        ("Cuối kỳ", "unspecified", None, "end_of_term"),
        ("Tổng kết", "unspecified", None, "end_of_term"),
    ],
)
def test_mid_term_and_end_of_term_reviews_are_recognised(
    text: str, kind: str, due: date | None, review: str
) -> None:
    deadline = parse_deadline(text)
    assert (deadline.kind.value, deadline.due, deadline.review) == (kind, due, review)
    assert Deadline.from_dict(deadline.to_dict()) == deadline
