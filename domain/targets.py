"""Targets (chỉ tiêu) as the ward plans word them, and whether a measurement meets one.

A plan's target column holds wordings such as "≥ 80%", "15–17%", "Mức Khá" or
"Đảm bảo khả năng". :func:`parse_target` reads them into a :class:`Target`.

Decisions, so readers need not guess:

* A bare number or percentage ("100%", "90", "3") means *at least* that much
  (:attr:`Comparator.GE`): the plans' target columns state minimums. "=" is used
  only when the plan writes it.
* Numbers follow the Vietnamese convention: "," is the decimal mark ("1,5" is 1.5)
  and "." groups thousands ("1.000" is 1000), except that a single "." not followed
  by exactly three digits, or after a leading 0, is a decimal point ("0.5" is 0.5)
  as OCR and English-style figures write it. When both marks appear, the last one
  is the decimal mark.
* A lone closing parenthesis at the end ("95)") is OCR garbling and is ignored.
* A measurement is read on the target's own scale: for "≥ 80%" a measured 85 or
  "85%" means 85 per cent.
* A cell marked only "X" is a qualitative commitment (:attr:`Comparator.COMMITMENT`):
  no number, met by evidence a reviewer accepted.
* One cell holding two measures joined by "&" ("100% & > 50%", "2,5%& 3% GRDP") is a
  compound target (:attr:`Comparator.COMPOUND`): each part is read on its own and
  judged on its own; the whole is met when every part is; a measurement of it gives
  one value a part, in order, joined by "&" ("100 & 62").
* :func:`read_target` never refuses a wording: one it cannot read is kept verbatim
  as a target that is not machine-judged (:attr:`Comparator.REVIEW`) — judged by
  review of its evidence, never reinterpreted ("Đảm bảo khả năng 6G >30%" is not a
  yes/no capability).
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from domain.errors import UnrecognisedMeasurementError, UnrecognisedTargetError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "LEVELS",
    "Comparator",
    "Target",
    "parse_level",
    "parse_number",
    "parse_target",
    "read_target",
]


class Comparator(StrEnum):
    """How a measurement is compared with the target."""

    GE = ">="
    GT = ">"
    EQ = "="
    LE = "<="
    LT = "<"
    RANGE = "range"
    LEVEL = "level"
    CAPABILITY = "capability"
    COMMITMENT = "commitment"  # "X": met by accepted evidence
    COMPOUND = "compound"  # "100% & > 50%": every part met
    REVIEW = "review"  # a wording the system cannot read: not machine-judged


LEVELS: tuple[str, ...] = ("yếu", "trung bình", "khá", "tốt", "xuất sắc")
"""Rating levels (xếp loại), lowest first."""

TRUTHY_WORDS = frozenset({"đạt", "đảm bảo", "bảo đảm", "có", "yes", "true", "1"})
"""Measured wordings that say a capability is in place."""

_NUMERIC = frozenset({Comparator.GE, Comparator.GT, Comparator.EQ, Comparator.LE, Comparator.LT})
_OPERATORS: dict[Comparator, Callable[[Decimal, Decimal], bool]] = {
    Comparator.GE: operator.ge,
    Comparator.GT: operator.gt,
    Comparator.EQ: operator.eq,
    Comparator.LE: operator.le,
    Comparator.LT: operator.lt,
}


@dataclass(frozen=True)
class Target:
    """A target: the plan's wording and what it asks for.

    ``value`` is the number (the lower bound of a range), ``upper`` the upper
    bound of a range, ``level`` a word from :data:`LEVELS` for a level target, and
    ``percent`` whether the wording carries a "%" sign.
    """

    text: str
    comparator: Comparator
    value: Decimal | None = None
    upper: Decimal | None = None
    level: str | None = None
    percent: bool = False
    parts: tuple[Target, ...] = ()

    @property
    def machine_judged(self) -> bool:
        """Whether the system reads the wording (False: judged only by review)."""
        return self.comparator is not Comparator.REVIEW

    @property
    def by_evidence(self) -> bool:
        """Judged by accepted evidence rather than by a measured figure."""
        return self.comparator in {Comparator.COMMITMENT, Comparator.REVIEW}

    def split(self, measured: Decimal | str) -> list[str]:
        """A compound target's measurement, one value a part ("100 & 62")."""
        values = [v.strip() for v in str(measured).split("&")]
        if len(values) != len(self.parts) or not all(values):
            message = (
                f"{measured!r} does not give one value for each of the {len(self.parts)} "
                f"parts of {self.text!r}, joined by '&'"
            )
            raise UnrecognisedMeasurementError(message)
        return values

    def __post_init__(self) -> None:
        """Refuse a target whose parts contradict its comparator."""
        problem = _inconsistency(self)
        if problem is not None:
            message = f"target {self.text!r}: {problem}"
            raise UnrecognisedTargetError(message)

    def is_met(self, measured: Decimal | str) -> bool:
        """Whether ``measured`` meets this target.

        Numeric targets take a number (or its wording, "85%", "1,5"); level
        targets a level wording ("Mức Khá", "Tốt"), met at or above the target
        level; capability targets a yes-word from :data:`TRUTHY_WORDS` (or a
        non-zero number). Raises :class:`UnrecognisedMeasurementError` when
        ``measured`` cannot be read.
        """
        if self.comparator is Comparator.LEVEL:
            return _measured_rank(measured) >= _rank(self._level)
        if self.comparator is Comparator.CAPABILITY:
            return _is_truthy(measured)
        if self.comparator is Comparator.COMPOUND:
            return all(p.is_met(v) for p, v in zip(self.parts, self.split(measured), strict=True))
        if self.by_evidence:
            message = f"target {self.text!r} is judged by review of evidence, not by a figure"
            raise UnrecognisedMeasurementError(message)
        number = _measured_number(measured)
        if self.comparator is Comparator.RANGE:
            return self._value <= number <= _needed(self.upper, self.text)
        return _OPERATORS[self.comparator](number, self._value)

    def attainment(self, measured: Decimal | str) -> Decimal | None:
        """How far ``measured`` goes towards the target, as a ratio (1 = exactly).

        measured/target for ≥, >, = and ranges (against the lower bound);
        target/measured for ≤ and <; level positions (1 = yếu … 5 = xuất sắc)
        measured/target for levels; 1 or 0 for capabilities. Nothing is capped.
        ``None`` when the ratio would divide by zero.
        """
        if self.comparator is Comparator.LEVEL:
            return Decimal(_measured_rank(measured)) / Decimal(_rank(self._level))
        if self.comparator is Comparator.CAPABILITY:
            return Decimal(1) if _is_truthy(measured) else Decimal(0)
        if self.comparator is Comparator.COMPOUND:
            ratios = [
                p.attainment(v) for p, v in zip(self.parts, self.split(measured), strict=True)
            ]
            return None if None in ratios else min(r for r in ratios if r is not None)
        if self.by_evidence:
            message = f"target {self.text!r} is judged by review of evidence, not by a figure"
            raise UnrecognisedMeasurementError(message)
        number = _measured_number(measured)
        if self.comparator in {Comparator.LE, Comparator.LT}:
            return _ratio(self._value, number)
        return _ratio(number, self._value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form; numbers as decimal strings (``parts`` only when
        compound)."""
        data: dict[str, Any] = {
            "text": self.text,
            "comparator": self.comparator.value,
            "value": _str_or_none(self.value),
            "upper": _str_or_none(self.upper),
            "level": self.level,
            "percent": self.percent,
        }
        if self.parts:
            data["parts"] = [part.to_dict() for part in self.parts]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        """Rebuild a target from :meth:`to_dict` output.

        Raises :class:`UnrecognisedTargetError` when ``data`` is malformed.
        """
        try:
            parts = tuple(cls.from_dict(part) for part in data.get("parts") or ())
            return cls(
                parts=parts,
                text=_field(data, "text") or "",
                comparator=Comparator(_field(data, "comparator") or ""),
                value=_decimal_or_none(_field(data, "value")),
                upper=_decimal_or_none(_field(data, "upper")),
                level=_field(data, "level"),
                percent=_flag(data, "percent"),
            )
        except (TypeError, ValueError, InvalidOperation) as exc:
            message = f"malformed target record {dict(data)!r}: {exc}"
            raise UnrecognisedTargetError(message) from exc

    @property
    def _value(self) -> Decimal:
        return _needed(self.value, self.text)

    @property
    def _level(self) -> str:
        if self.level is None:
            message = f"target {self.text!r} has no level"
            raise UnrecognisedTargetError(message)
        return self.level


def read_target(text: str) -> Target:
    """A target as a plan words it, never refused: a wording :func:`parse_target`
    cannot read is kept verbatim as a :attr:`Comparator.REVIEW` target (not
    machine-judged)."""
    try:
        return parse_target(text)
    except UnrecognisedTargetError:
        return Target(text, Comparator.REVIEW)


def parse_target(text: str) -> Target:
    """Read a target as a plan words it.

    Raises :class:`UnrecognisedTargetError` naming the text when not understood.
    """
    cleaned = _clean(text)
    if cleaned.lower() == "x":
        return Target(text, Comparator.COMMITMENT)
    if "&" in cleaned:
        parts = tuple(parse_target(part) for part in cleaned.split("&"))
        if any(p.comparator in {Comparator.COMMITMENT, Comparator.COMPOUND} for p in parts):
            message = f"target {text!r} joins parts that are not measures"
            raise UnrecognisedTargetError(message)
        return Target(text, Comparator.COMPOUND, parts=parts)
    if _CAPABILITY.fullmatch(cleaned):
        return Target(text, Comparator.CAPABILITY)
    level = _LEVEL.fullmatch(cleaned)
    if level is not None:
        return Target(text, Comparator.LEVEL, level=_level_word(level))
    top = _TOP_N.fullmatch(cleaned)
    if top is not None:
        return Target(text, Comparator.LE, value=Decimal(top["num"]))
    target = _range(text, cleaned) or _comparison(text, cleaned)
    if target is None:
        message = f"target {text!r} is not a wording this system understands"
        raise UnrecognisedTargetError(message)
    return target


def parse_level(text: str) -> str:
    """The level word in a rating wording: "Mức Khá" → "khá", "Đạt loại tốt" → "tốt".

    Raises :class:`UnrecognisedTargetError` when the wording names no level.
    """
    match = _LEVEL.fullmatch(_clean(text))
    if match is None:
        message = f"{text!r} names no level of {', '.join(LEVELS)}"
        raise UnrecognisedTargetError(message)
    return _level_word(match)


def parse_number(text: str) -> Decimal:
    """A number as the plans write it ("1,5", "80%", "1.000"); see the module notes.

    Raises :class:`UnrecognisedMeasurementError` when ``text`` is not a number.
    """
    match = re.fullmatch(rf"({_NUM}) ?%?", _clean(text))
    number = None if match is None else _to_decimal(match[1])
    if number is None:
        message = f"{text!r} is not a number"
        raise UnrecognisedMeasurementError(message)
    return number


# --- reading the wording ---------------------------------------------------------

_NUM = r"\d+(?:[.,]\d+)*"
_REST = r"(?P<rest>(?:\s[^\d%<>=≥≤]*)?)"
_GE_WORDS = ("từ", "tối thiểu", "ít nhất", "không dưới", "không ít hơn", "tiến tới")
_OPS: dict[str, Comparator] = {
    "≥": Comparator.GE,
    ">=": Comparator.GE,
    "=>": Comparator.GE,
    "≤": Comparator.LE,
    "<=": Comparator.LE,
    "=<": Comparator.LE,
    ">": Comparator.GT,
    "<": Comparator.LT,
    "=": Comparator.EQ,
    **dict.fromkeys(_GE_WORDS, Comparator.GE),
    "trên": Comparator.GT,
    "hơn": Comparator.GT,
    "dưới": Comparator.LT,
    "tối đa": Comparator.LE,
    "không quá": Comparator.LE,
    "không vượt quá": Comparator.LE,
}
_OP_PATTERN = "|".join(re.escape(op) for op in sorted(_OPS, key=len, reverse=True))
_LEVEL_PATTERN = "|".join(LEVELS)

# A rank among the first N ("nhóm 10 xã/phường dẫn đầu"): the measured rank is at most N.
_TOP_N = re.compile(r"(?:thuộc )?(?:nhóm|top) (?P<num>\d+)(?: [^\d]*)? dẫn đầu", re.IGNORECASE)
# "Đảm bảo khả năng …" with no figure: a figure or comparison in it ("Đảm bảo khả năng
# 6G >30%") is a measure this system cannot read, not a yes/no capability
_CAPABILITY = re.compile(r"(?:đảm bảo|bảo đảm) khả năng(?: [^\d%<>=≥≤]*)?", re.IGNORECASE)
_LEVEL = re.compile(
    r"(?:(?:đạt|xếp loại|xếp hạng|xếp|loại|mức|nhóm|hạng) )*"
    rf"(?P<level>{_LEVEL_PATTERN})(?: trở lên)?",
    re.IGNORECASE,
)
_RANGE = re.compile(
    rf"(?:đạt )?(?:từ ?)?(?P<low>{_NUM}) ?(?P<p1>%)? ?(?:[-–—]|đến) ?"
    rf"(?P<high>{_NUM}) ?(?P<p2>%)?{_REST}",
    re.IGNORECASE,
)
_COMPARISON = re.compile(
    rf"(?:đạt )?(?P<op>{_OP_PATTERN})? ?(?P<num>{_NUM}) ?(?P<pct>%)?{_REST}",
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    """NFC, single spaces, no trailing full stop, no unmatched trailing ")"."""
    cleaned = " ".join(unicodedata.normalize("NFC", text).split()).rstrip(" .")
    if cleaned.endswith(")") and "(" not in cleaned:
        cleaned = cleaned[:-1].rstrip(" .")
    return cleaned


def _level_word(match: re.Match[str]) -> str:
    return match["level"].lower()


def _range(text: str, cleaned: str) -> Target | None:
    match = _RANGE.fullmatch(cleaned)
    if match is None:
        return None
    low, high = _to_decimal(match["low"]), _to_decimal(match["high"])
    if low is None or high is None:
        return None
    if high < low:
        message = f"target {text!r} is a range whose upper bound is below its lower"
        raise UnrecognisedTargetError(message)
    percent = bool(match["p1"] or match["p2"])
    return Target(text, Comparator.RANGE, value=low, upper=high, percent=percent)


def _comparison(text: str, cleaned: str) -> Target | None:
    match = _COMPARISON.fullmatch(cleaned)
    if match is None:
        return None
    value = _to_decimal(match["num"])
    if value is None:
        return None
    comparator = _comparator(match["op"], match["rest"])
    return Target(text, comparator, value=value, percent=match["pct"] is not None)


def _comparator(op: str | None, rest: str) -> Comparator:
    """The written operator, else "trở xuống" (at most), else at least."""
    if op is not None:
        return _OPS[op.lower()]
    if rest.lower().endswith("trở xuống"):
        return Comparator.LE
    return Comparator.GE


def _to_decimal(raw: str) -> Decimal | None:
    """Read digits with Vietnamese decimal and thousands marks (module notes).

    ``None`` when the marks make no sense together ("1,2.3,4").
    """
    marks = [ch for ch in raw if ch in ",."]
    if not marks:
        return Decimal(raw)
    last = marks[-1]
    if len(set(marks)) == 2:  # noqa: PLR2004 - both marks: the last is decimal
        decimal_mark, group_mark = last, "." if last == "," else ","
    elif len(marks) > 1 or _groups_thousands(raw, last):
        decimal_mark, group_mark = "", last
    else:
        decimal_mark, group_mark = last, ""
    digits = raw.replace(group_mark, "") if group_mark else raw
    if decimal_mark and digits.count(decimal_mark) > 1:
        return None
    return Decimal(digits.replace(decimal_mark, ".") if decimal_mark else digits)


def _groups_thousands(raw: str, mark: str) -> bool:
    """A single "." before exactly three digits, not after a lone 0: "1.000"."""
    whole, _, fraction = raw.partition(mark)
    return mark == "." and len(fraction) == 3 and whole != "0"  # noqa: PLR2004


# --- reading a measurement -------------------------------------------------------


def _measured_number(measured: Decimal | str) -> Decimal:
    return parse_number(measured) if isinstance(measured, str) else measured


def _measured_rank(measured: Decimal | str) -> int:
    if not isinstance(measured, str):
        message = f"a level target needs a level wording, not the number {measured}"
        raise UnrecognisedMeasurementError(message)
    try:
        return _rank(parse_level(measured))
    except UnrecognisedTargetError as exc:
        raise UnrecognisedMeasurementError(exc.message) from exc


def _rank(level: str) -> int:
    """Position of a level, 1 for the lowest."""
    return LEVELS.index(level) + 1


def _is_truthy(measured: Decimal | str) -> bool:
    if isinstance(measured, str):
        return _clean(measured).lower() in TRUTHY_WORDS
    return measured != 0


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return None if denominator == 0 else numerator / denominator


# --- checking and storing --------------------------------------------------------


def _inconsistency(target: Target) -> str | None:
    """What is wrong with the target's parts, if anything."""
    if (target.comparator is Comparator.COMPOUND) != bool(target.parts):
        return "a compound target, and only one, has parts"
    numeric = target.comparator in _NUMERIC or target.comparator is Comparator.RANGE
    if numeric and target.value is None:
        return "a numeric target needs a value"
    if target.comparator is Comparator.RANGE and (
        target.upper is None or target.value is None or target.upper < target.value
    ):
        return "a range needs an upper bound no lower than its lower bound"
    if target.comparator is Comparator.LEVEL and target.level not in LEVELS:
        return f"level {target.level!r} is not one of {', '.join(LEVELS)}"
    return None


def _needed(number: Decimal | None, text: str) -> Decimal:
    if number is None:
        message = f"target {text!r} has no number"
        raise UnrecognisedTargetError(message)
    return number


def _str_or_none(number: Decimal | None) -> str | None:
    return None if number is None else str(number)


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _field(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        message = f"field {key!r} must be text, not {value!r}"
        raise TypeError(message)
    return value


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        message = f"field {key!r} must be true or false, not {value!r}"
        raise TypeError(message)
    return value
