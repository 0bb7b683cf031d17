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

On a day, :func:`forecast` projects each dated task forward over the declared
dependencies at its planned pace, and :func:`critical_chain` picks the chain of
dependencies that sets the latest projected finish:

- A task may start at the earliest on its planned start or the day after the
  projected finish of its upstreams, whichever is later (:func:`release`: on the
  finish day itself behind an upstream due no earlier than the task).
- It still needs its planned span's length (``due − start`` days) times the share
  not yet done, rounded up to whole days (none when closed).
- An open task is projected to finish that many days after today or its earliest
  start, whichever is later: a task not yet started whose upstreams are on schedule
  keeps its planned dates. A closed task finished by today (by its due day, as far
  as its schedule goes).
- Its slack is its due day − its projected finish, in days (negative: late).
- Recurring duties have no due day: they are not projected, hold no one up and are
  on no chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from graphlib import TopologicalSorter

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


def planned_due(deadline: Deadline, plan_year: int) -> date | None:
    """The day an item with ``deadline`` is due by; None for a recurring duty."""
    if deadline.kind is DeadlineKind.RECURRING:
        return None
    return deadline.due or plan_end(plan_year)


def planned_span(
    deadline: Deadline, plan_start: date, plan_year: int, upstream_dues: Iterable[date] = ()
) -> PlannedSpan:
    """When an item with ``deadline`` is planned to run (see the module)."""
    due = planned_due(deadline, plan_year)
    if due is None:
        start = max(plan_start, deadline.starts or plan_start)
        recurrence = deadline.recurrence.value if deadline.recurrence else None
        return PlannedSpan(start, None, recurrence)
    start = max([plan_start, *(d + ONE_DAY for d in upstream_dues)])
    return PlannedSpan(min(start, due), due)


def upstreams_of(dependencies: Iterable[Sequence[str]]) -> dict[str, list[str]]:
    """The items declared upstream of each item, from (upstream, downstream) pairs."""
    found: dict[str, list[str]] = {}
    for upstream, downstream in dependencies:
        found.setdefault(downstream, []).append(upstream)
    return found


def plan_spans(
    deadlines: Mapping[str, Deadline],
    dependencies: Iterable[Sequence[str]],
    plan_start: date,
    plan_year: int,
) -> dict[str, PlannedSpan]:
    """The planned span of each item of a plan, by key: ``deadlines`` by key, the
    plan's declared ``dependencies`` as (upstream, downstream) pairs of keys."""
    dues = {key: planned_due(deadline, plan_year) for key, deadline in deadlines.items()}
    upstreams = upstreams_of(dependencies)
    return {
        key: planned_span(
            deadline,
            plan_start,
            plan_year,
            [due for up in upstreams.get(key, ()) if (due := dues.get(up)) is not None],
        )
        for key, deadline in deadlines.items()
    }


@dataclass(frozen=True)
class Forecast:
    """A dated task projected on a day (see the module): its earliest ``start``, its
    planned ``due`` day, the days of work it still needs and its projected ``finish``."""

    start: date
    due: date
    remaining_days: int
    finish: date

    @property
    def slack_days(self) -> int:
        """The due day − the projected finish, in days (negative: late)."""
        return (self.due - self.finish).days


def remaining_days(span: PlannedSpan, percent: int, *, closed: bool) -> int:
    """The days of work left at the planned pace: the span's length times the share
    not yet done, rounded up (0 when closed or recurring)."""
    if closed or span.due is None:
        return 0
    return -(-(span.due - span.start).days * (100 - percent) // 100)


def release(upstream: Forecast, due: date) -> date:
    """The earliest day a task due on ``due`` may start behind ``upstream``: the day
    after the upstream's projected finish — or that very day when the task is due no
    later than its upstream, as the plan has them finish together."""
    return upstream.finish + ONE_DAY if upstream.due < due else upstream.finish


def forecast(
    spans: Mapping[str, PlannedSpan],
    dependencies: Iterable[Sequence[str]],
    today: date,
    percent: Mapping[str, int],
    closed: AbstractSet[str],
) -> dict[str, Forecast]:
    """Each dated task projected on ``today``, upstream first (see the module):
    ``spans`` from :func:`plan_spans`, ``percent`` done by key (0 when absent), the
    keys of the ``closed`` tasks. The dependencies are acyclic (the plan refuses
    cycles)."""
    dues = {key: span.due for key, span in spans.items() if span.due is not None}
    upstreams = {
        key: [up for up in ups if up in dues]
        for key, ups in upstreams_of(dependencies).items()
        if key in dues
    }
    found: dict[str, Forecast] = {}
    for key in TopologicalSorter({key: upstreams.get(key, ()) for key in dues}).static_order():
        span, due = spans[key], dues[key]
        start = max([span.start, *(release(found[up], due) for up in upstreams.get(key, ()))])
        left = remaining_days(span, percent.get(key, 0), closed=key in closed)
        finish = min(today, due) if key in closed else max(today, start) + timedelta(days=left)
        found[key] = Forecast(start, due, left, finish)
    return found


def critical_chain(
    forecasts: Mapping[str, Forecast], dependencies: Iterable[Sequence[str]]
) -> list[str]:
    """The chain of declared dependencies that sets the latest projected finish,
    upstream first: of the tasks ``forecasts`` holds that take part in a dependency,
    the one projected to finish last and, before each, its upstream projected to
    finish last (ties: the one with the longer chain of upstreams, then the earlier
    key); empty when none takes part."""
    edges = [edge for edge in dependencies if any(key in forecasts for key in edge)]
    upstreams = upstreams_of(edge for edge in edges if edge[0] in forecasts)

    @cache
    def depth(key: str) -> int:
        return 1 + max(map(depth, upstreams.get(key, ())), default=0)

    def last(keys: Iterable[str]) -> str:
        return max(sorted(keys), key=lambda key: (forecasts[key].finish, depth(key)))

    if not edges:
        return []
    chain = [last({key for edge in edges for key in edge if key in forecasts})]
    while chain[-1] in upstreams:
        chain.append(last(upstreams[chain[-1]]))
    return chain[::-1]
