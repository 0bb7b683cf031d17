"""Red flags, exactly the plans' three rules (Bình Long plan, III.2.3), plus an early
warning:

- ``PAST_DEADLINE`` — past its target date and not done;
- ``BEHIND_SCHEDULE`` — below 50% of the completion the time-based schedule expects
  (linear from the plan's start to the deadline);
- ``LOW_QUALITY_EVIDENCE`` — the latest evidence review judged it low quality;
- ``LATE_FORECAST`` (early warning) — the finish date forecast from the item's
  reporting velocity falls after its deadline.

Everything here is a pure function of an item's history and a day. An item's history
is a list of :class:`ItemState` — the state each of its events left it in, from the
day that event took effect. Between two events the state is constant, so the day a
rule starts or stops holding is computed, not polled: :func:`flag_history` gives every
raise and clear up to a day, with the rule's id and version and the events that
raised and cleared it, and :func:`red_flags` the flags open on that day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from domain.clock import ward_day
from domain.items import ItemStatus, Quality, TrackedItem
from domain.task import Task

BEHIND_RATIO = 0.5
VELOCITY_POINTS = 3  # the forecast uses the latest reports (and the plan's start)
ONE_DAY = timedelta(days=1)
TIME = "time"  # what raised or cleared a flag when no event did: a day passing


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    text: str


RULES = {
    rule.id: rule
    for rule in (
        Rule("PAST_DEADLINE", 1, "past its target date and not completed (004 III.2.3 a)"),
        Rule(
            "BEHIND_SCHEDULE",
            1,
            "below 50% of the completion the linear schedule from the plan's start "
            "to the deadline expects (004 III.2.3 b)",
        ),
        Rule(
            "LOW_QUALITY_EVIDENCE",
            1,
            "the latest evidence review judged it low quality (004 III.2.3 c)",
        ),
        Rule(
            "LATE_FORECAST",
            1,
            "early warning: the finish forecast from the latest reports' velocity "
            "falls after the deadline",
        ),
    )
}


@dataclass(frozen=True)
class RedFlag:
    rule: str
    message: str
    version: int = 1


@dataclass(frozen=True)
class ItemState:
    """An item as one of its events left it, from ``day`` on."""

    ref: str  # the event: "PLAN/task/KEY@v7"
    day: date
    open: bool  # neither completed nor cancelled nor a group
    percent: int | None = None  # tasks only
    due: date | None = None
    low_quality: str | None = None  # the evidence the latest review judged low quality
    reports: tuple[tuple[date, int], ...] = ()  # the latest (day, percent) reports
    status: str = ItemStatus.NOT_STARTED.value

    def as_row(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "day": self.day.isoformat(),
            "open": self.open,
            "percent": self.percent,
            "due": self.due.isoformat() if self.due else None,
            "low_quality": self.low_quality,
            "reports": [[day.isoformat(), percent] for day, percent in self.reports],
            "status": self.status,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ItemState:
        def day(text: str | None) -> date | None:
            return date.fromisoformat(text) if text else None

        return cls(
            ref=row["ref"],
            day=date.fromisoformat(row["day"]),
            open=row["open"],
            percent=row["percent"],
            due=day(row["due"]),
            low_quality=row["low_quality"],
            reports=tuple((date.fromisoformat(d), p) for d, p in row["reports"]),
            status=row["status"],
        )


def expected_percent(start: date, due: date, today: date) -> float:
    """The completion a linear schedule from ``start`` to ``due`` expects on ``today``."""
    if today >= due:
        return 100.0
    if today <= start or due <= start:
        return 0.0
    return 100.0 * (today - start).days / (due - start).days


def forecast_finish(reports: tuple[tuple[date, int], ...], start: date | None) -> date | None:
    """The day 100% is reached at the velocity from the oldest to the latest of
    ``reports`` (with one report: from the plan's ``start`` at 0%); None when there is
    no velocity to judge by."""
    if not reports:
        return None
    points = list(reports) if len(reports) > 1 or start is None else [(start, 0), *reports]
    if len(points) < 2:  # noqa: PLR2004 - a velocity needs two points
        return None
    (first_day, first), (last_day, last) = points[0], points[-1]
    days, gained = (last_day - first_day).days, last - first
    if last >= 100:  # noqa: PLR2004
        return last_day
    if days <= 0 or gained <= 0:
        return None
    return last_day + timedelta(days=-(-(100 - last) * days // gained))


def event_day(event: Any) -> date:
    """The day an event takes effect: a report's as-of day, else the ward's day when it
    occurred."""
    as_of = getattr(event, "as_of", None)
    return as_of if isinstance(as_of, date) else ward_day(event.occurred_at)


def schedule_of(item: TrackedItem) -> tuple[int | None, date | None]:
    """A task's percent and due day (an indicator has neither)."""
    return (item.percent, item.deadline.due) if isinstance(item, Task) else (None, None)


def next_state(before: ItemState | None, item: TrackedItem, event: Any) -> ItemState:
    """The state ``event`` left ``item`` in (``item`` is the aggregate after it)."""
    # the plan defined the item: it stands from the plan's start; a later state never
    # takes effect before the state it follows
    day = date.min if before is None else max(event_day(event), before.day)
    low = before.low_quality if before else None
    quality = getattr(event, "quality", None)
    if quality is not None and getattr(event, "sha256", None):
        low = event.sha256 if quality == Quality.LOW.value else None
    percent, due = schedule_of(item)
    reports = before.reports if before else ()
    if percent is not None and type(event).__name__ in ("ProgressReported", "ReportCorrected"):
        reports = (*reports, (day, percent))[-VELOCITY_POINTS:]
    return ItemState(
        ref=f"{item.plan}/{'task' if isinstance(item, Task) else 'indicator'}/{item.key}"
        f"@v{item.version}",
        day=day,
        open=not item.group and not item.status.is_closed,
        percent=percent,
        due=due,
        low_quality=low if not item.status.is_closed else None,
        reports=reports,
        status=item.status.value,
    )


Days = tuple[date, date | None]  # [from, until): the days a rule holds; until None: on


def past_deadline(_state: ItemState, due: date, _percent: int, _start: date) -> Days | None:
    return due + ONE_DAY, None


def behind_schedule(_state: ItemState, due: date, percent: int, start: date) -> Days | None:
    if percent >= BEHIND_RATIO * 100:
        return None
    if due <= start:
        return due, None
    # the first day d on which percent < 50 × (d − start) / (due − start)
    first = start + timedelta(days=int(percent * (due - start).days / 50) + 1)
    return min(first, due), None


def late_forecast(state: ItemState, due: date, _percent: int, start: date) -> Days | None:
    forecast = forecast_finish(state.reports, start)
    late = forecast is not None and forecast > due
    return (state.day, due + ONE_DAY) if late else None  # past the due day it is late


SCHEDULE_RULES = {
    "PAST_DEADLINE": past_deadline,
    "BEHIND_SCHEDULE": behind_schedule,
    "LATE_FORECAST": late_forecast,
}


def onset(rule: str, state: ItemState, start: date) -> Days | None:
    """The days ``rule`` holds for ``state`` held forever, or None."""
    if not state.open:
        return None
    if rule == "LOW_QUALITY_EVIDENCE":
        return (state.day, None) if state.low_quality else None
    if state.due is None or state.percent is None:
        return None
    return SCHEDULE_RULES[rule](state, state.due, state.percent, start)


def message(rule: str, state: ItemState, start: date, today: date) -> str:
    """Why ``rule`` holds for ``state`` on ``today``."""
    if rule == "PAST_DEADLINE":
        return f"due {state.due}"
    if rule == "BEHIND_SCHEDULE" and state.due:
        expected = expected_percent(start, state.due, today)
        return f"{state.percent}% done, {expected:.1f}% expected on {today}"
    if rule == "LATE_FORECAST":
        forecast = forecast_finish(state.reports, start)
        return f"at the reported pace it finishes {forecast}, due {state.due}"
    return f"evidence {(state.low_quality or '')[:12]}… judged low quality"


@dataclass(frozen=True)
class FlagSpan:
    """One raise of a flag and, if it cleared, its clear."""

    rule: str
    version: int
    raised_on: date
    raised_by: str  # the event whose state raised it ("…@vN"); the clock raised it if
    raised_at_event: bool  # False: a day passed with that state (a deadline, a schedule)
    message: str
    cleared_on: date | None = None
    cleared_by: str | None = None  # the event that cleared it, or TIME

    def as_row(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "version": self.version,
            "raised_on": self.raised_on.isoformat(),
            "raised_by": self.raised_by,
            "raised_at_event": self.raised_at_event,
            "message": self.message,
            "cleared_on": self.cleared_on.isoformat() if self.cleared_on else None,
            "cleared_by": self.cleared_by,
        }


def flag_history(states: list[ItemState], start: date, today: date) -> list[FlagSpan]:
    """Every raise and clear of every rule up to ``today`` (inclusive), oldest first."""
    spans: list[FlagSpan] = []
    for rule, version in ((r.id, r.version) for r in RULES.values()):
        current: FlagSpan | None = None
        for index, state in enumerate(states):
            if state.day > today:
                break
            following = states[index + 1] if index + 1 < len(states) else None
            if following is not None and following.day == state.day:
                continue  # a later event of the same day decides that day
            ends = min(following.day, today + ONE_DAY) if following else today + ONE_DAY
            held = onset(rule, state, start)
            lo, hi = (max(held[0], state.day), min(held[1] or ends, ends)) if held else (ends, ends)
            if current is not None and not (lo == state.day and lo < hi):
                # the flag was up when this state began and this state does not hold it
                spans.append(replace(current, cleared_on=state.day, cleared_by=state.ref))
                current = None
            if lo < hi and current is None:
                current = FlagSpan(
                    rule,
                    version,
                    lo,
                    state.ref,
                    lo == state.day,
                    message(rule, state, start, lo),
                )
            if current is not None and hi < ends:  # stops holding within this state
                spans.append(replace(current, cleared_on=hi, cleared_by=TIME))
                current = None
        if current is not None:
            spans.append(current)
    return sorted(spans, key=lambda s: (s.raised_on, s.rule))


def open_flags(states: list[ItemState], start: date, today: date) -> list[RedFlag]:
    """The flags up on ``today``."""
    return [
        RedFlag(s.rule, s.message, s.version)
        for s in flag_history(states, start, today)
        if s.cleared_on is None
    ]


def red_flags(item: TrackedItem, plan_start: date, today: date) -> list[RedFlag]:
    """The red flags ``item`` shows on ``today``, judged from its current state alone
    (no forecast: that needs its reports' days)."""
    low = [e.sha256 for e in item.evidence.values() if e.quality is Quality.LOW]
    percent, due = schedule_of(item)
    state = ItemState(
        ref="",
        day=date.min,
        open=not item.group and not item.status.is_closed,
        percent=percent,
        due=due,
        low_quality=low[-1] if low else None,
    )
    return open_flags([state], plan_start, today)
