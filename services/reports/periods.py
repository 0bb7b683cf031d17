"""What a periodic report is asked for: its period (``2026-03``, ``2026-Q1``,
``2026-H1``, ``2026``), its format (``xlsx``, ``pdf``) — checked, each refusal with its
own code (docs/errors.md, "Codes of reports") — and the day it is stated as of."""

from __future__ import annotations

import datetime as dt
import re

from domain.errors import InvalidValueError, PeriodOutOfRangeError
from domain.reporting import Period, period_from_label

LABEL = re.compile(r"([0-9]{4})(?:-(0[1-9]|1[0-2])|-Q([1-4])|-H([12]))?")
FIRST_YEAR, LAST_YEAR = 1970, 2199  # the days every view can compute a status for
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


class ReportPeriodInvalidError(InvalidValueError):
    code = "REPORT_PERIOD_INVALID"


class ReportFormatUnsupportedError(InvalidValueError):
    code = "REPORT_FORMAT_UNSUPPORTED"


class KnownAtInFutureError(InvalidValueError):
    code = "KNOWN_AT_IN_FUTURE"


def check_known_at(known_at: dt.datetime | None, now: dt.datetime, field: str = "known_at") -> None:
    """A moment to read the store as known at: not after ``now`` (the future is not
    known yet); refused ``KNOWN_AT_IN_FUTURE``."""
    if known_at is not None and known_at > now:
        msg = f"{known_at.isoformat()} is after the clock ({now.isoformat()})"
        raise KnownAtInFutureError(msg, field=field)


def parse_period(label: str, field: str = "period") -> Period:
    """The period ``label`` names; refused ``REPORT_PERIOD_INVALID`` when it names none."""
    found = LABEL.fullmatch(label)
    if found is None or not FIRST_YEAR <= int(found.group(1)) <= LAST_YEAR:
        shown = label if len(label) <= 20 else label[:20] + "…"  # noqa: PLR2004
        msg = (
            f"{shown!r} is not a reporting period: a month 2026-03, a quarter 2026-Q1,"
            f" a half-year 2026-H1 or a year 2026 (years {FIRST_YEAR}–{LAST_YEAR})"
        )
        raise ReportPeriodInvalidError(msg, field=field)
    return period_from_label(label)


def check_format(name: str, field: str = "format") -> str:
    """``xlsx`` or ``pdf``; anything else refused ``REPORT_FORMAT_UNSUPPORTED``."""
    if name not in FORMATS:
        shown = name if len(name) <= 20 else name[:20] + "…"  # noqa: PLR2004
        msg = f"{shown!r} is not a report format: {' or '.join(FORMATS)}"
        raise ReportFormatUnsupportedError(msg, field=field)
    return name


def report_day(period: Period, today: dt.date, field: str = "period") -> dt.date:
    """The day a report of ``period`` is stated as of: the period's last day, or
    ``today`` (the ward's day of the moment it is read as known at) while the period
    runs. A period that has not begun by ``today`` is refused ``PERIOD_OUT_OF_RANGE``."""
    if period.first > today:
        msg = f"period {period.label} begins on {period.first}, after the ward's day {today}"
        raise PeriodOutOfRangeError(msg, field=field)
    return min(period.last, today)
