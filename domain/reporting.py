"""The plan's reporting regime: its periods and the day each period's report is due.

A plan states which periodic reports it wants (``reporting``: monthly, quarterly,
half-yearly, yearly). Units report on the finest of them; a plan that states none is
followed quarterly (:data:`DEFAULT_REGIME`: Bình Phước (000) wants progress kept up
to date in the monitoring system, with no period named). A period's report is due
:data:`REPORT_GRACE` after the period's last day — the same week a report may lag its
``as_of`` day before it counts as late (:data:`domain.timing.LATE_AFTER`). The first
reporting checkpoint of a plan is the due day of the report of the period its
schedule starts in: before it, no unit could have reported, so nothing is judged
against the schedule.

Period labels are those measurements use: ``2026-03``, ``2026-Q1``, ``2026-H1``,
``2026``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from domain.clock import ward_day
from domain.context import Context
from domain.errors import InvalidValueError, PeriodOutOfRangeError
from domain.timing import LATE_AFTER

REGIMES = ("monthly", "quarterly", "half_yearly", "yearly")  # finest first
MONTHS = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}
DEFAULT_REGIME = "quarterly"
REPORT_GRACE = timedelta(days=LATE_AFTER.days)


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period: its first and last day and its kind."""

    first: date
    last: date
    kind: str

    @property
    def label(self) -> str:
        """``2026-03``, ``2026-Q1``, ``2026-H1`` or ``2026``."""
        year, index = self.first.year, (self.first.month - 1) // MONTHS[self.kind] + 1
        return {
            "monthly": f"{year}-{self.first.month:02d}",
            "quarterly": f"{year}-Q{index}",
            "half_yearly": f"{year}-H{index}",
            "yearly": f"{year}",
        }[self.kind]

    @property
    def due(self) -> date:
        """The last day its report may arrive on without being missing."""
        return self.last + REPORT_GRACE

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


def finest(regime: Sequence[str]) -> str:
    """The finest period of a plan's ``reporting`` list (:data:`DEFAULT_REGIME` if empty)."""
    unknown = [kind for kind in regime if kind not in MONTHS]
    if unknown:
        msg = f"reporting periods must be among {', '.join(REGIMES)}, not {', '.join(unknown)}"
        raise InvalidValueError(msg, field="reporting")
    return next((kind for kind in REGIMES if kind in regime), DEFAULT_REGIME)


def period_of(day: date, kind: str) -> Period:
    """The period of ``kind`` that ``day`` falls in."""
    months = MONTHS[kind]
    first = date(day.year, (day.month - 1) // months * months + 1, 1)
    after = first.month + months
    following = date(first.year + 1, 1, 1) if after > 12 else date(first.year, after, 1)  # noqa: PLR2004
    return Period(first, following - timedelta(days=1), kind)


def periods(first: date, last: date, kind: str) -> list[Period]:
    """The periods of ``kind`` that overlap the days ``first``…``last``, in order."""
    found: list[Period] = []
    day = first
    while day <= last:
        found.append(period_of(day, kind))
        day = found[-1].last + timedelta(days=1)
    return found


def first_checkpoint(start: date, regime: Sequence[str]) -> date:
    """The first day a plan whose schedule starts on ``start`` can be judged on: the
    due day of the report of the period ``start`` falls in."""
    return period_of(start, finest(regime)).due


def periods_due(first: date, last: date, kind: str, today: date) -> list[Period]:
    """The periods of ``kind`` overlapping ``first``…``last`` whose report's due day
    has passed by ``today``."""
    return [p for p in periods(first, min(last, today), kind) if p.due < today]


def period_from_label(label: str) -> Period:
    """The period a label names (``2026-03``, ``2026-Q1``, ``2026-H1``, ``2026``)."""
    year, _, part = label.partition("-")
    if not part:
        return period_of(date(int(year), 1, 1), "yearly")
    if part[0] in "QH":
        kind = "quarterly" if part[0] == "Q" else "half_yearly"
        return period_of(date(int(year), (int(part[1:]) - 1) * MONTHS[kind] + 1, 1), kind)
    return period_of(date(int(year), int(part), 1), "monthly")


def check_period_begun(period: str, ctx: Context) -> None:
    """A measurement's period (a valid label) has begun by the ward's today: nobody
    measures a month, a quarter or a year that has not started."""
    today, begins = ward_day(ctx.recorded_at), period_from_label(period).first
    if begins > today:
        msg = f"period {period} begins on {begins}, after the ward's today, {today}"
        raise PeriodOutOfRangeError(msg, field="period")


def within(inner: Period, outer: Period) -> bool:
    """Whether ``inner`` lies within, or equals, ``outer``."""
    return outer.first <= inner.first and inner.last <= outer.last


ROMAN = ("I", "II", "III", "IV")


def period_name(period: Period) -> str:
    """The period as the ward's documents name it: "Quý I năm 2026", "Tháng 3 năm 2026",
    "6 tháng đầu năm 2026", "Năm 2026"."""
    year, month = period.first.year, period.first.month
    if period.kind == "monthly":
        return f"Tháng {month} năm {year}"
    if period.kind == "quarterly":
        return f"Quý {ROMAN[(month - 1) // 3]} năm {year}"
    if period.kind == "half_yearly":
        return f"6 tháng {'đầu' if month == 1 else 'cuối'} năm {year}"
    return f"Năm {year}"


def vn_date(day: date) -> str:
    """A day as the ward writes it: 07/02/2026."""
    return day.strftime("%d/%m/%Y")
