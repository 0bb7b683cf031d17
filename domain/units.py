"""Units (đơn vị tính) as the ward plans print them, and checking a measurement's unit.

A plan prints an indicator's unit as "%", "Thứ bậc", "Công trình", "% ngân sách",
"Chỉ số", "triệu đồng", … :func:`parse_unit` reads it into a :class:`Unit` whose
``kind`` says how to compare values; any other noun phrase is something counted
("Công trình", "Doanh nghiệp", "người dự thi") and keeps its noun, lowercased, so
that 3 "công trình" and 3 "doanh nghiệp" are never confused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import UnitMismatchError, UnrecognisedUnitError

__all__ = ["Unit", "UnitKind", "check_measurement_unit", "parse_unit"]


class UnitKind(StrEnum):
    """What sort of quantity a unit measures."""

    PERCENT = "percent"
    PERCENT_OF_BUDGET = "percent_of_budget"
    PERCENT_OF_GRDP = "percent_of_grdp"
    LEVEL = "level"
    COUNT = "count"
    INDEX = "index"
    MONEY = "money_million_vnd"


@dataclass(frozen=True)
class Unit:
    """A unit: the plan's wording, its kind and, for counts, the counted noun."""

    text: str
    kind: UnitKind
    noun: str | None = None

    def same_as(self, other: Unit) -> bool:
        """Whether values in ``other`` can be compared with values in this unit."""
        return self.kind is other.kind and self.noun == other.noun


def parse_unit(text: str) -> Unit:
    """Read a unit as a plan prints it.

    Raises :class:`UnrecognisedUnitError` naming the text when it is neither a
    known unit nor a noun phrase of letters.
    """
    cleaned = _clean(text)
    for pattern, kind in _KINDS:
        if pattern.fullmatch(cleaned):
            return Unit(text, kind)
    if cleaned and all(ch.isalpha() or ch == " " for ch in cleaned):
        return Unit(text, UnitKind.COUNT, noun=cleaned.lower())
    message = f"unit {text!r} is not a unit this system understands"
    raise UnrecognisedUnitError(message)


def check_measurement_unit(indicator_unit: Unit, measured_unit_text: str) -> None:
    """Refuse a measurement whose unit differs from its indicator's unit.

    Raises :class:`UnitMismatchError` naming both units, or
    :class:`UnrecognisedUnitError` when the measured unit cannot be read at all.
    """
    measured = parse_unit(measured_unit_text)
    if not measured.same_as(indicator_unit):
        message = (
            f"measured unit {measured_unit_text!r} ({_describe(measured)}) does not"
            f" match the indicator's unit {indicator_unit.text!r}"
            f" ({_describe(indicator_unit)})"
        )
        raise UnitMismatchError(message)


def _clean(text: str) -> str:
    """NFC, single spaces, no surrounding blanks or trailing full stop."""
    return " ".join(unicodedata.normalize("NFC", text).split()).rstrip(" .")


def _describe(unit: Unit) -> str:
    return unit.kind.value if unit.noun is None else f"{unit.kind.value}: {unit.noun}"


def _kind(pattern: str, kind: UnitKind) -> tuple[re.Pattern[str], UnitKind]:
    return re.compile(pattern, re.IGNORECASE), kind


_PERCENT_OF = r"\(?% ?(?:/ ?|của |trên )?"

# The first full match wins; anything else made of letters is a count.
_KINDS: tuple[tuple[re.Pattern[str], UnitKind], ...] = (
    _kind(r"\(?%\)?|phần trăm|t[ỷỉ] lệ(?: ?\(?%\)?)?", UnitKind.PERCENT),
    _kind(rf"{_PERCENT_OF}(?:tổng )?(?:chi )?ngân sách.*", UnitKind.PERCENT_OF_BUDGET),
    _kind(rf"{_PERCENT_OF}grdp\)?", UnitKind.PERCENT_OF_GRDP),
    _kind(r"thứ bậc|thứ hạng|xếp loại|xếp hạng|mức(?: độ)?|nhóm|hạng", UnitKind.LEVEL),
    _kind(r"chỉ số", UnitKind.INDEX),
    _kind(r"triệu (?:đồng|vnđ|vnd)", UnitKind.MONEY),
)
