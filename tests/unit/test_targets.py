"""Targets as the ward plans word them, and whether measurements meet them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import UnrecognisedMeasurementError, UnrecognisedTargetError
from domain.targets import (
    LEVELS,
    Comparator,
    Target,
    parse_level,
    parse_number,
    parse_target,
    read_target,
)

C = Comparator
N = Decimal


@pytest.mark.parametrize(
    ("text", "comparator", "value", "percent"),
    [
        ("≥ 80%", C.GE, N(80), True),
        ("≥80%", C.GE, N(80), True),
        (">= 80", C.GE, N(80), False),
        ("≥ 70", C.GE, N(70), False),
        ("≥ 100%", C.GE, N(100), True),
        ("> 50%", C.GT, N(50), True),
        ("≤ 5%", C.LE, N(5), True),
        ("< 3", C.LT, N(3), False),
        ("= 100%", C.EQ, N(100), True),
        ("≥ 1,5%", C.GE, N("1.5"), True),
        ("≥ 0,8", C.GE, N("0.8"), False),
        ("≥ 300 người dự thi", C.GE, N(300), False),
        ("từ 60% dân số trở lên", C.GE, N(60), True),
        ("đạt từ 70% trở lên", C.GE, N(70), True),
        ("5% trở xuống", C.LE, N(5), True),
        ("tối đa 2", C.LE, N(2), False),
    ],
)
def test_a_written_comparison_is_read_as_written(
    text: str, comparator: Comparator, value: Decimal, percent: bool
) -> None:
    target = parse_target(text)
    assert (target.comparator, target.value, target.percent) == (
        comparator,
        value,
        percent,
    )
    assert target.text == text


@pytest.mark.parametrize(
    ("text", "value", "percent"),
    [
        ("100%", N(100), True),
        ("100", N(100), False),
        ("90", N(90), False),
        ("0", N(0), False),
        ("1", N(1), False),
        ("3", N(3), False),
        ("6%", N(6), True),
        ("95)", N(95), False),
        ("100% dân số", N(100), True),
        ("1.000", N(1000), False),
        ("1.234,5", N("1234.5"), False),
        ("0.5", N("0.5"), False),
    ],
)
def test_a_bare_number_means_at_least_that_much(text: str, value: Decimal, percent: bool) -> None:
    target = parse_target(text)
    assert target.comparator is C.GE
    assert target.value == value
    assert target.percent is percent


@pytest.mark.parametrize(
    ("text", "lower", "upper", "percent"),
    [
        ("0.5–0.8", N("0.5"), N("0.8"), False),
        ("15-17%", N(15), N(17), True),
        ("15–17%", N(15), N(17), True),
        ("từ 15 đến 17%", N(15), N(17), True),
        ("15% - 17%", N(15), N(17), True),
    ],
)
def test_a_range_keeps_both_bounds(
    text: str, lower: Decimal, upper: Decimal, percent: bool
) -> None:
    target = parse_target(text)
    assert target.comparator is C.RANGE
    assert (target.value, target.upper, target.percent) == (lower, upper, percent)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Mức Khá", "khá"),
        ("Đạt loại tốt", "tốt"),
        ("nhóm khá", "khá"),
        ("đạt mức Khá", "khá"),
        ("Khá", "khá"),
        ("Tốt", "tốt"),
        ("Xuất sắc", "xuất sắc"),
        ("Mức Trung bình trở lên", "trung bình"),
    ],
)
def test_a_level_is_read_as_its_normalised_word(text: str, level: str) -> None:
    target = parse_target(text)
    assert target.comparator is C.LEVEL
    assert target.level == level
    assert parse_level(text) == level


def test_assuring_a_capability_is_a_capability_target() -> None:
    assert parse_target("Đảm bảo khả năng").comparator is C.CAPABILITY


def test_levels_are_ordered_lowest_first() -> None:
    assert LEVELS == ("yếu", "trung bình", "khá", "tốt", "xuất sắc")


@pytest.mark.parametrize(
    "text", ["", "garbage", "≥", "80% năm 2026", "Mức", "tốt nghiệp", "1,2.3,4", "17-15%"]
)
def test_an_unrecognised_target_is_refused_naming_its_text(text: str) -> None:
    with pytest.raises(UnrecognisedTargetError) as caught:
        parse_target(text)
    assert caught.value.code == "TARGET_UNRECOGNISED"
    assert repr(text) in caught.value.message


def test_a_wording_without_a_level_word_has_no_level() -> None:
    with pytest.raises(UnrecognisedTargetError) as caught:
        parse_level("Hoàn thành")
    assert caught.value.code == "TARGET_UNRECOGNISED"


@pytest.mark.parametrize(
    ("target", "measured", "met"),
    [
        ("≥ 80%", N(80), True),
        ("≥ 80%", "85%", True),
        ("≥ 80%", N("79.9"), False),
        ("> 50%", N(50), False),
        ("> 50%", N("50.1"), True),
        ("= 100%", N(100), True),
        ("= 100%", N(99), False),
        ("≤ 5%", N(5), True),
        ("≤ 5%", N(6), False),
        ("< 3", N(2), True),
        ("< 3", N(3), False),
        ("15–17%", N(16), True),
        ("15–17%", N(15), True),
        ("15–17%", N(17), True),
        ("15–17%", N("17.5"), False),
        ("15–17%", N(14), False),
        ("≥ 1,5%", "1,5", True),
        ("0", N(0), True),
    ],
)
def test_a_number_meets_a_numeric_target_by_its_comparator(
    target: str, measured: Decimal | str, met: bool
) -> None:
    assert parse_target(target).is_met(measured) is met


@pytest.mark.parametrize(
    ("measured", "met"),
    [
        ("Tốt", True),
        ("Khá", True),
        ("Mức Khá", True),
        ("Đạt loại tốt", True),
        ("XUẤT SẮC", True),
        ("Trung bình", False),
        ("yếu", False),
    ],
)
def test_a_level_meets_a_level_target_at_or_above_it(measured: str, met: bool) -> None:
    assert parse_target("Mức Khá").is_met(measured) is met


@pytest.mark.parametrize(
    ("measured", "met"),
    [
        ("đạt", True),
        ("Đảm bảo", True),
        ("có", True),
        ("yes", True),
        ("true", True),
        ("1", True),
        (N(1), True),
        ("không", False),
        ("chưa đạt", False),
        (N(0), False),
    ],
)
def test_a_capability_is_met_by_a_yes_word(measured: Decimal | str, met: bool) -> None:
    assert parse_target("Đảm bảo khả năng").is_met(measured) is met


@pytest.mark.parametrize(
    ("target", "measured", "attainment"),
    [
        ("≥ 80%", N(60), N("0.75")),
        ("≥ 80%", N(100), N("1.25")),
        ("> 50%", N(25), N("0.5")),
        ("= 100%", N(50), N("0.5")),
        ("≤ 5%", N(10), N("0.5")),
        ("< 3", N(6), N("0.5")),
        ("15–17%", N(30), N(2)),
        ("0", N(5), None),
        ("≤ 5%", N(0), None),
        ("Mức Khá", "Tốt", N(4) / N(3)),
        ("Mức Khá", "Khá", N(1)),
        ("Mức Khá", "Trung bình", N(2) / N(3)),
        ("Đảm bảo khả năng", "đạt", N(1)),
        ("Đảm bảo khả năng", "không", N(0)),
    ],
)
def test_attainment_is_the_ratio_of_measured_to_target(
    target: str, measured: Decimal | str, attainment: Decimal | None
) -> None:
    assert parse_target(target).attainment(measured) == attainment


@pytest.mark.parametrize(
    ("target", "measured"),
    [("≥ 80%", "nhiều"), ("≥ 80%", "Khá"), ("Mức Khá", N(3)), ("Mức Khá", "cao")],
)
def test_an_unreadable_measurement_is_refused(target: str, measured: Decimal | str) -> None:
    with pytest.raises(UnrecognisedMeasurementError) as caught:
        parse_target(target).is_met(measured)
    assert caught.value.code == "MEASUREMENT_UNRECOGNISED"


@pytest.mark.parametrize(
    ("text", "number"), [("1,5", N("1.5")), ("80%", N(80)), ("1.000.000", N(1000000))]
)
def test_a_number_is_read_the_vietnamese_way(text: str, number: Decimal) -> None:
    assert parse_number(text) == number


def test_a_target_whose_parts_contradict_its_comparator_is_refused() -> None:
    with pytest.raises(UnrecognisedTargetError):
        Target("≥", C.GE)
    with pytest.raises(UnrecognisedTargetError):
        Target("x", C.RANGE, value=N(5), upper=N(1))
    with pytest.raises(UnrecognisedTargetError):
        Target("x", C.LEVEL, level="giỏi")


def test_a_malformed_record_is_refused() -> None:
    with pytest.raises(UnrecognisedTargetError) as caught:
        Target.from_dict({"text": "x", "comparator": ">=", "value": "lots"})
    assert caught.value.code == "TARGET_UNRECOGNISED"


def test_the_plain_form_keeps_numbers_as_decimal_text() -> None:
    assert parse_target("15–17%").to_dict() == {
        "text": "15–17%",
        "comparator": "range",
        "value": "15",
        "upper": "17",
        "level": None,
        "percent": True,
    }


_numbers = st.decimals(min_value=0, max_value=100000, places=2).map(
    lambda number: f"{number}".replace(".", ",")
)
_wordings = st.one_of(
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", "≥ ", "≥", ">= ", "> ", "= ", "≤ ", "< ", "từ "]),
        _numbers,
        st.sampled_from(["", "%", " người", "% dân số"]),
    ),
    st.builds(
        lambda low, high, pct: f"{min(low, high)}–{max(low, high)}{pct}",
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.sampled_from(["", "%"]),
    ),
    st.builds(
        "{}{}".format,
        st.sampled_from(["", "Mức ", "Đạt loại ", "nhóm "]),
        st.sampled_from(LEVELS),
    ),
    st.just("Đảm bảo khả năng"),
)


@given(_wordings)
def test_a_parsed_target_survives_its_plain_form(text: str) -> None:
    target = parse_target(text)
    plain = json.loads(json.dumps(target.to_dict()))
    assert Target.from_dict(plain) == target


@given(st.decimals(min_value=0, max_value=100000, places=3))
def test_a_bare_number_is_met_by_itself(number: Decimal) -> None:
    text = f"{number}".replace(".", ",")
    assert parse_target(text).is_met(number)


def test_a_place_among_the_leading_n_is_a_rank_of_at_most_n() -> None:
    target = parse_target("nhóm 10 xã/phường dẫn đầu")
    assert (target.comparator, target.value) == (Comparator.LE, Decimal(10))
    assert target.is_met(Decimal(7))
    assert not target.is_met(Decimal(11))


def test_heading_towards_a_figure_means_at_least_that_figure() -> None:
    target = parse_target("tiến tới 100%")
    assert (target.comparator, target.value, target.percent) == (Comparator.GE, Decimal(100), True)


@pytest.mark.parametrize("text", ["6G >30%", "Có > 95%", "Đảm bảo khả năng 6G >30%"])
def test_a_wording_with_an_unknown_qualifier_is_kept_not_machine_judged(text: str) -> None:
    target = read_target(text)
    assert target.text == text
    assert target.comparator is C.REVIEW
    assert not target.machine_judged
    with pytest.raises(UnrecognisedMeasurementError):
        target.is_met("40")


def test_a_capability_with_a_figure_is_not_read_as_yes_or_no() -> None:
    with pytest.raises(UnrecognisedTargetError):
        parse_target("Đảm bảo khả năng 6G >30%")


def test_a_cell_marked_x_is_a_commitment_judged_by_evidence() -> None:
    target = read_target("X")
    assert target.comparator is C.COMMITMENT
    assert target.by_evidence
    assert target.machine_judged


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("100% & > 50%", [(C.GE, N(100)), (C.GT, N(50))]),
        ("2,5%& 3% GRDP", [(C.GE, N("2.5")), (C.GE, N(3))]),
    ],
)
def test_a_compound_target_keeps_each_measure(text: str, parts: list[tuple[C, Decimal]]) -> None:
    target = read_target(text)
    assert target.comparator is C.COMPOUND
    assert target.text == text
    assert [(p.comparator, p.value) for p in target.parts] == parts
    assert Target.from_dict(target.to_dict()) == target
    assert target.is_met("2,5 & 3") is (text.startswith("2,5"))
