"""An item's planned schedule: the day it may start and the day it is due, from the
plan alone (its deadline wording, its declared upstreams, the plan's start and year).

- An item starts with the plan's schedule (:attr:`domain.plan.Plan.start`), or the
  day after the latest due day of the tasks declared upstream of it, whichever is
  later — but never after its own due day.
- It is due on the last day its deadline wording allows (:mod:`domain.deadlines`).
  A duty with no deadline at all (the body-text duties of Bình Phước (000) and Bình
  Long (004)) is due by the end of the plan's year: the plan is a plan for that
  year. A recurring duty ("Thường xuyên", "Hằng năm", "hàng quý") has no single due
  day: it is judged period by period (:attr:`PlannedSpan.recurrence`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from domain.deadlines import Deadline, DeadlineKind

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class PlannedSpan:
    """The days an item is planned over: ``start``…``due`` (``due`` None for a
    recurring duty, which comes round every ``recurrence``)."""

    start: date
    due: date | None
    recurrence: str | None = None


def plan_end(year: int) -> date:
    """The last day of a plan for ``year``."""
    return date(year, 12, 31)


def planned_span(
    deadline: Deadline, plan_start: date, plan_year: int, upstream_dues: Iterable[date] = ()
) -> PlannedSpan:
    """When an item with ``deadline`` is planned to run (see the module)."""
    if deadline.kind is DeadlineKind.RECURRING:
        start = max(plan_start, deadline.starts or plan_start)
        recurrence = deadline.recurrence.value if deadline.recurrence else None
        return PlannedSpan(start, None, recurrence)
    due = deadline.due or plan_end(plan_year)
    start = max([plan_start, *(d + ONE_DAY for d in upstream_dues)])
    return PlannedSpan(min(start, due), due)
