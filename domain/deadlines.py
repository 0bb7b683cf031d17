"""Deadlines (thời gian hoàn thành) as the ward plans word them.

A plan states a deadline as a quarter ("Quý I/2026"), a half year ("6 tháng đầu
năm 2026"), a year ("Năm 2026"), a date ("trước ngày 15/02/2026"), a recurring duty
("Thường xuyên", "Hằng năm", "Định kỳ 3 tháng, 6 tháng, 1 năm hoặc đột xuất", "chu kỳ
2,5 năm", "đột xuất") or a reference to a higher plan ("Theo Kế hoạch của UBND tỉnh
năm 2026"). :func:`parse_deadline` turns that wording into a :class:`Deadline`
whose ``due`` is the last day the item may be done on, and keeps the wording itself.

Matching ignores case, repeated spaces and a trailing full stop; the captured parts
(authority, qualifier) keep the plan's own spelling.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeAlias

from domain.errors import UnrecognisedDeadlineError

__all__ = [
    "Deadline",
    "DeadlineKind",
    "Recurrence",
    "parse_deadline",
    "period_end",
]


class DeadlineKind(StrEnum):
    """What sort of deadline the wording states."""

    DATE = "date"
    QUARTER = "quarter"
    HALF_YEAR = "half_year"
    YEAR = "year"
    RECURRING = "recurring"
    DEFERRED = "deferred"
    UNSPECIFIED = "unspecified"


class Recurrence(StrEnum):
    """How often a recurring duty comes round."""

    CONTINUOUS = "continuous"
    YEARLY = "yearly"
    HALF_YEARLY = "half_yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    CYCLE = "cycle"  # every ``Deadline.every_months`` months ("chu kỳ 2,5 năm")
    AD_HOC = "ad_hoc"  # when asked ("đột xuất"), on no calendar


FINEST_FIRST = (Recurrence.MONTHLY, Recurrence.QUARTERLY, Recurrence.HALF_YEARLY, Recurrence.YEARLY)


@dataclass(frozen=True)
class Deadline:
    """A deadline: the plan's wording and what it means.

    ``due`` is the last day the item may be done on (``None`` when the wording
    names no end: recurring, unspecified, or deferred without a year). ``starts``
    is set only for a recurring duty that begins in a stated year. A recurring duty
    may state several cycles ("định kỳ hàng tháng, 3 tháng, 6 tháng, 1 năm"): they
    are all in ``recurrences`` (finest first, then ``ad_hoc`` when it may also come
    "đột xuất"), and ``recurrence`` is the finest — the one it is judged by.
    """

    text: str
    kind: DeadlineKind
    due: date | None = None
    starts: date | None = None
    recurrence: Recurrence | None = None
    authority: str | None = None
    qualifier: str | None = None
    recurrences: tuple[Recurrence, ...] = ()
    every_months: int | None = None  # for a Recurrence.CYCLE
    # a review it names: "mid_term" (sơ kết, giữa kỳ) or "end_of_term" (tổng kết, cuối kỳ)
    review: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """Plain JSON-safe form; dates as ISO ``YYYY-MM-DD`` (``review`` only when set)."""
        data = {
            "text": self.text,
            "kind": self.kind.value,
            "due": _iso(self.due),
            "starts": _iso(self.starts),
            "recurrence": None if self.recurrence is None else self.recurrence.value,
            "authority": self.authority,
            "qualifier": self.qualifier,
            "recurrences": ",".join(r.value for r in self.recurrences) or None,
            "every_months": None if self.every_months is None else str(self.every_months),
        }
        return data if self.review is None else {**data, "review": self.review}

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> Deadline:
        """Rebuild a deadline from :meth:`to_dict` output.

        Raises :class:`UnrecognisedDeadlineError` when ``data`` is malformed.
        """
        try:
            return cls(
                text=data["text"] or "",
                kind=DeadlineKind(data["kind"] or ""),
                due=_from_iso(data.get("due")),
                starts=_from_iso(data.get("starts")),
                recurrence=_recurrence(data.get("recurrence")),
                authority=data.get("authority"),
                qualifier=data.get("qualifier"),
                recurrences=tuple(
                    Recurrence(r) for r in (data.get("recurrences") or "").split(",") if r
                ),
                every_months=_months(data.get("every_months")),
                review=data.get("review"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            message = f"malformed deadline record {dict(data)!r}: {exc}"
            raise UnrecognisedDeadlineError(message) from exc


def period_end(year: int, quarter: int | None = None) -> date:
    """Last day of ``year``, or of its ``quarter`` (1–4) when one is given."""
    if quarter is None:
        return date(year, 12, 31)
    if not 1 <= quarter <= 4:  # noqa: PLR2004 - a year has four quarters
        message = f"quarter must be 1–4, not {quarter}"
        raise ValueError(message)
    first_of_next = date(year + quarter // 4, quarter % 4 * 3 + 1, 1)
    return first_of_next - timedelta(days=1)


def parse_deadline(text: str | None) -> Deadline:
    """Read a deadline as a plan words it.

    ``None`` or blank wording is :attr:`DeadlineKind.UNSPECIFIED`. Raises
    :class:`UnrecognisedDeadlineError` naming the text when it is not understood
    or names an impossible date or quarter.
    """
    original = text or ""
    cleaned = _clean(original)
    if not cleaned:
        return Deadline(text=original, kind=DeadlineKind.UNSPECIFIED)
    for pattern, build in _RULES:
        match = pattern.fullmatch(cleaned)
        if match is not None:
            return build(original, match)
    message = f"deadline {original!r} is not a wording this system understands"
    raise UnrecognisedDeadlineError(message)


# --- reading the wording ---------------------------------------------------------

_ROMAN_QUARTERS = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_YEAR = r"(?P<year>\d{4})"
_REST = r"(?:\s+(?P<rest>.+))?"
_SLASH = r"\s*/\s*"
_DATE = rf"(?P<day>\d{{1,2}}){_SLASH}(?P<month>\d{{1,2}}){_SLASH}{_YEAR}"
_EACH = r"h[àằ]ng"

Builder: TypeAlias = Callable[[str, "re.Match[str]"], Deadline]


def _clean(text: str) -> str:
    """NFC, single spaces, no surrounding blanks or trailing full stops."""
    collapsed = " ".join(unicodedata.normalize("NFC", text).split())
    return collapsed.rstrip(" .;").strip()


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _from_iso(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _months(value: str | None) -> int | None:
    return None if value is None else int(value)


def _recurrence(value: str | None) -> Recurrence | None:
    return None if value is None else Recurrence(value)


def _year(original: str, match: re.Match[str]) -> int:
    year = int(match["year"])
    if not 1900 <= year <= 2999:  # noqa: PLR2004 - plausible plan years
        message = f"deadline {original!r} names an implausible year {year}"
        raise UnrecognisedDeadlineError(message)
    return year


def _recurring(recurrence: Recurrence) -> Builder:
    def build(original: str, _match: re.Match[str]) -> Deadline:
        return Deadline(original, DeadlineKind.RECURRING, recurrence=recurrence)

    return build


_CYCLE_WORDS = (  # the words of one cycle, and the cycle they name
    (r"(?:3 tháng|(?:h[àằ]ng |mỗi )?quý)", Recurrence.QUARTERLY),
    (r"(?:6 tháng|nửa năm)", Recurrence.HALF_YEARLY),
    (r"(?:12 tháng|(?:h[àằ]ng |mỗi |1 |một )?năm)", Recurrence.YEARLY),
    (r"(?:(?:h[àằ]ng |mỗi |1 |một )?tháng)", Recurrence.MONTHLY),
)
_CYCLE = "(?:" + "|".join(words for words, _ in _CYCLE_WORDS) + ")"
_AND = r"\s*(?:,|và|hoặc)\s*"
_AD_HOC = "đột xuất"


def _cycles(original: str, match: re.Match[str]) -> Deadline:
    """One or several cycles ("định kỳ 3 tháng, 6 tháng, 1 năm hoặc đột xuất")."""
    stated = set()
    for part in re.split(_AND, match["cycles"], flags=re.IGNORECASE):
        stated |= {r for words, r in _CYCLE_WORDS if re.fullmatch(words, part, re.IGNORECASE)}
    regular = tuple(r for r in FINEST_FIRST if r in stated)
    ad_hoc = (Recurrence.AD_HOC,) if match["ad_hoc"] else ()
    return Deadline(
        original,
        DeadlineKind.RECURRING,
        recurrence=regular[0],
        recurrences=regular + ad_hoc,
    )


def _ad_hoc(original: str, _match: re.Match[str]) -> Deadline:
    only = Recurrence.AD_HOC
    return Deadline(original, DeadlineKind.RECURRING, recurrence=only, recurrences=(only,))


def _cycle_of_years(original: str, match: re.Match[str]) -> Deadline:
    """ "chu kỳ 2,5 năm": every 30 months."""
    count = float(match["count"].replace(",", "."))
    months = round(count * (12 if match["unit"].lower() == "năm" else 1))
    if months <= 0:
        message = f"deadline {original!r} names a cycle of no length"
        raise UnrecognisedDeadlineError(message)
    return Deadline(
        original,
        DeadlineKind.RECURRING,
        recurrence=Recurrence.CYCLE,
        recurrences=(Recurrence.CYCLE,),
        every_months=months,
    )


def _recurring_from(original: str, match: re.Match[str]) -> Deadline:
    starts = date(_year(original, match), 1, 1)
    return Deadline(original, DeadlineKind.RECURRING, starts=starts, recurrence=Recurrence.YEARLY)


def _quarter(original: str, match: re.Match[str]) -> Deadline:
    written = match["quarter"].lower()
    quarter = _ROMAN_QUARTERS.get(written) or (
        int(written) if written in {"1", "2", "3", "4"} else None
    )
    if quarter is None:
        message = f"deadline {original!r} names quarter {match['quarter']}, not I–IV"
        raise UnrecognisedDeadlineError(message)
    due = period_end(_year(original, match), quarter)
    return Deadline(original, DeadlineKind.QUARTER, due=due, qualifier=match["rest"])


def _half_year(original: str, match: re.Match[str]) -> Deadline:
    year = _year(original, match)
    first = match["half"].lower() == "đầu"
    due = period_end(year, 2) if first else period_end(year)
    return Deadline(original, DeadlineKind.HALF_YEAR, due=due, qualifier=match["rest"])


def _year_end(original: str, match: re.Match[str]) -> Deadline:
    due = period_end(_year(original, match))
    return Deadline(original, DeadlineKind.YEAR, due=due, qualifier=match["rest"])


def _on_date(original: str, match: re.Match[str]) -> Deadline:
    try:
        day = date(_year(original, match), int(match["month"]), int(match["day"]))
    except ValueError as exc:
        message = f"deadline {original!r} names an impossible date: {exc}"
        raise UnrecognisedDeadlineError(message) from exc
    before = (match["before"] or "").lower() == "trước"
    due = day - timedelta(days=1) if before else day
    return Deadline(original, DeadlineKind.DATE, due=due, qualifier=match["rest"])


def _deferred(original: str, match: re.Match[str]) -> Deadline:
    authority = match["authority"]
    year = re.search(r"năm\s+(\d{4})", authority, re.IGNORECASE)
    due = None if year is None else period_end(int(year[1]))
    return Deadline(original, DeadlineKind.DEFERRED, due=due, authority=authority)


def _phased(original: str, match: re.Match[str]) -> Deadline:
    due = period_end(_year(original, match))
    authority = match["authority"]
    return Deadline(original, DeadlineKind.DEFERRED, due=due, authority=authority)


MID_TERM, END_OF_TERM = "mid_term", "end_of_term"
_REVIEWS = {
    "sơ kết": MID_TERM,
    "giữa kỳ": MID_TERM,
    "tổng kết": END_OF_TERM,
    "cuối kỳ": END_OF_TERM,
}


def _review(original: str, match: re.Match[str]) -> Deadline:
    """A mid-term or end-of-term review ("Sơ kết giữa kỳ năm 2030", "Tổng kết"): due at
    the end of the year it names, else when the plan's span is judged (unspecified)."""
    review = _REVIEWS[(match["review"] or match["bare"]).lower()]
    if (match["term"] or "").lower() in _REVIEWS:
        review = _REVIEWS[match["term"].lower()]
    if match["year"] is None:
        return Deadline(original, DeadlineKind.UNSPECIFIED, review=review)
    due = period_end(_year(original, match))
    return Deadline(original, DeadlineKind.YEAR, due=due, review=review)


def _rule(pattern: str, build: Builder) -> tuple[re.Pattern[str], Builder]:
    return re.compile(pattern, re.IGNORECASE), build


# Order matters: the first full match wins.
_RULES: tuple[tuple[re.Pattern[str], Builder], ...] = (
    _rule(r"(?:nhiệm vụ )?thường xuyên", _recurring(Recurrence.CONTINUOUS)),
    _rule(
        rf"(?:(?:định kỳ|theo) )?(?P<cycles>{_CYCLE}(?:{_AND}{_CYCLE})*)"
        rf"(?P<ad_hoc>{_AND}{_AD_HOC})?",
        _cycles,
    ),
    _rule(rf"(?:(?:báo cáo|kiểm tra|thực hiện) )?{_AD_HOC}", _ad_hoc),
    _rule(r"(?:theo )?chu kỳ (?P<count>\d+(?:[,.]\d+)?) (?P<unit>năm|tháng)", _cycle_of_years),
    _rule(rf"(?:từ )?năm {_YEAR} và các năm tiếp theo", _recurring_from),
    _rule(rf"quý (?P<quarter>[ivx]+|\d+){_SLASH}{_YEAR}{_REST}", _quarter),
    _rule(rf"6 tháng (?P<half>đầu|cuối) năm {_YEAR}{_REST}", _half_year),
    _rule(rf"(?:phân kỳ )?năm {_YEAR} theo (?P<authority>.+)", _phased),
    _rule(rf"(?:trong |đến hết |hết )?năm {_YEAR}{_REST}", _year_end),
    _rule(rf"(?:(?P<before>trước|đến|chậm nhất) )?(?:ngày )?{_DATE}{_REST}", _on_date),
    _rule(
        r"(?:(?:tổ chức|hội nghị) )?(?:(?P<review>sơ kết|tổng kết)"
        r"(?: (?P<term>giữa kỳ|cuối kỳ|\d+ năm))?|(?P<bare>giữa kỳ|cuối kỳ))"
        r"(?: (?:thực hiện )?(?:kế hoạch|chương trình|nghị quyết))?"
        rf"(?: \(?(?:vào )?(?:cuối )?năm {_YEAR}\)?)?",
        _review,
    ),
    _rule(r"(?:thực hiện )?theo (?P<authority>.+)", _deferred),
)
