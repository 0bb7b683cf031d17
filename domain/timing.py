"""When a fact may be said to have happened, against the plan it is about.

- ``occurred_at`` (when the agency says it happened) is at most
  :data:`FUTURE_SLACK` ahead of when the system records it (clocks drift), and not
  before the plan's first year;
- a report's ``as_of`` (the day it refers to) lies between 1 January of the plan's
  first year and the ward's today;
- a measurement's period starts in a year between :data:`BASELINE_YEARS` before the
  plan's first (a baseline, measured before the plan) and the ward's current year (and
  has begun by the ward's today: :func:`domain.reporting.check_period_begun`).

A report (a record with an ``as_of`` day: progress, contribution, measurement) is
late (:func:`lateness`) when the system recorded it more than :data:`LATE_AFTER`
after the moment it is about: the end of its ``as_of`` ward day, or when it occurred
if earlier. A report of 31 March sent on 20 April is late even if the agency says it
"occurred" on 19 April. Any other record (a plan imported months after it was
issued, a correction, a receipt) has a delay — recorded after it occurred — but is
never late.
"""

from __future__ import annotations

import datetime as dt

from domain.clock import WARD_TIME, ward_day
from domain.context import Context
from domain.errors import (
    AsOfOutOfRangeError,
    OccurredBeforePlanError,
    OccurredInFutureError,
    PeriodOutOfRangeError,
)
from domain.indicator import check_period

FUTURE_SLACK = dt.timedelta(minutes=5)
BASELINE_YEARS = 5
LATE_AFTER = dt.timedelta(days=7)


def lateness(
    occurred_at: dt.datetime, recorded_at: dt.datetime, as_of: dt.date | None
) -> tuple[int, bool]:
    """How many whole seconds after the moment it is about a record was recorded, and
    whether it is a late report (one with an ``as_of`` day, more than
    :data:`LATE_AFTER`)."""
    if as_of is None:
        return int((recorded_at - occurred_at).total_seconds()), False
    day_ends = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), WARD_TIME)
    delay = recorded_at - min(occurred_at, day_ends)
    return int(delay.total_seconds()), delay > LATE_AFTER


def check_occurred_at(ctx: Context, first_year: int) -> None:
    if ctx.occurred_at > ctx.recorded_at + FUTURE_SLACK:
        msg = (
            f"occurred_at {ctx.occurred_at.isoformat()} is ahead of the server's clock "
            f"{ctx.recorded_at.isoformat()} by more than {FUTURE_SLACK}"
        )
        raise OccurredInFutureError(msg, field="occurred_at")
    if ward_day(ctx.occurred_at).year < first_year:
        msg = f"occurred_at {ctx.occurred_at.isoformat()} is before the plan's year {first_year}"
        raise OccurredBeforePlanError(msg, field="occurred_at")


def check_as_of(as_of: dt.date, ctx: Context, first_year: int) -> None:
    today = ward_day(ctx.recorded_at)
    if not dt.date(first_year, 1, 1) <= as_of <= today:
        msg = f"as_of {as_of} is not between {first_year}-01-01 and the ward's today, {today}"
        raise AsOfOutOfRangeError(msg, field="as_of")


def check_period_year(period: str, ctx: Context, first_year: int) -> None:
    earliest, this_year = first_year - BASELINE_YEARS, ward_day(ctx.recorded_at).year
    if not earliest <= int(check_period(period)[:4]) <= this_year:
        msg = f"period {period} is not in a year from {earliest} to {this_year}"
        raise PeriodOutOfRangeError(msg, field="period")
