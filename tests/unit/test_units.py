"""Units as the ward plans print them, and checking a measurement's unit."""

from __future__ import annotations

import pytest

from domain.errors import UnitMismatchError, UnrecognisedUnitError
from domain.units import Unit, UnitKind, check_measurement_unit, parse_unit

U = UnitKind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("%", U.PERCENT),
        ("(%)", U.PERCENT),
        ("Tỷ lệ (%)", U.PERCENT),
        ("Thứ bậc", U.LEVEL),
        ("Mức", U.LEVEL),
        ("Xếp loại", U.LEVEL),
        ("nhóm", U.LEVEL),
        ("% ngân sách", U.PERCENT_OF_BUDGET),
        ("% tổng chi ngân sách", U.PERCENT_OF_BUDGET),
        ("%/GRDP", U.PERCENT_OF_GRDP),
        ("% GRDP", U.PERCENT_OF_GRDP),
        ("Chỉ số", U.INDEX),
        ("triệu đồng", U.MONEY),
        ("Triệu đồng.", U.MONEY),
    ],
)
def test_a_known_unit_is_read_by_its_kind(text: str, kind: UnitKind) -> None:
    unit = parse_unit(text)
    assert unit.kind is kind
    assert unit.noun is None
    assert unit.text == text


@pytest.mark.parametrize(
    ("text", "noun"),
    [
        ("Công trình", "công trình"),
        ("Nhiệm vụ", "nhiệm vụ"),
        ("Doanh nghiệp", "doanh nghiệp"),
        ("người dự thi", "người dự thi"),
        ("người", "người"),
        ("hồ sơ", "hồ sơ"),
        ("  Công   trình ", "công trình"),
    ],
)
def test_any_other_noun_is_a_count_of_that_noun(text: str, noun: str) -> None:
    unit = parse_unit(text)
    assert unit.kind is U.COUNT
    assert unit.noun == noun


@pytest.mark.parametrize("text", ["", "   ", "123", "m2", "%%", "≥ 80%"])
def test_an_unrecognised_unit_is_refused_naming_its_text(text: str) -> None:
    with pytest.raises(UnrecognisedUnitError) as caught:
        parse_unit(text)
    assert caught.value.code == "UNIT_UNRECOGNISED"
    assert repr(text) in caught.value.message


def test_units_of_the_same_kind_and_noun_are_the_same() -> None:
    assert parse_unit("Công trình").same_as(parse_unit("công trình"))
    assert parse_unit("%").same_as(parse_unit("(%)"))
    assert parse_unit("Thứ bậc").same_as(parse_unit("Xếp loại"))


def test_counts_of_different_nouns_are_not_the_same() -> None:
    assert not parse_unit("Công trình").same_as(parse_unit("Doanh nghiệp"))


def test_a_percentage_is_not_a_percentage_of_the_budget() -> None:
    assert not parse_unit("%").same_as(parse_unit("% ngân sách"))


def test_a_measurement_in_the_indicators_unit_is_accepted() -> None:
    check_measurement_unit(parse_unit("Công trình"), "công trình")
    check_measurement_unit(Unit("%", U.PERCENT), "%")


def test_a_measurement_in_another_unit_is_refused_naming_both() -> None:
    with pytest.raises(UnitMismatchError) as caught:
        check_measurement_unit(parse_unit("Công trình"), "Doanh nghiệp")
    assert caught.value.code == "UNIT_MISMATCH"
    assert "Công trình" in caught.value.message
    assert "Doanh nghiệp" in caught.value.message


def test_a_measurement_in_an_unreadable_unit_is_refused() -> None:
    with pytest.raises(UnrecognisedUnitError) as caught:
        check_measurement_unit(parse_unit("%"), "m2")
    assert caught.value.code == "UNIT_UNRECOGNISED"
