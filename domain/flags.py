"""Red flags: the plans' three rules (Bình Long plan, III.2.3), the urging of units
that owe a report (đôn đốc), recurring duties and KPIs judged period by period, and
an early warning. Each rule has an id and a version (:data:`RULES`); a changed rule
is a new version.

An item is judged against its plan's :class:`Frame`: the plan's start, year and
reporting regime, the first reporting checkpoint (:func:`domain.reporting.first_checkpoint`:
until it has passed no unit could be late to report, so nothing is judged against a
schedule or a milestone), the due days of the tasks declared upstream of it, its lead
units, whether it names a product, and an indicator's targets. Its planned span is
:func:`domain.schedule.planned_span`.

Everything here is a pure function of an item's history and a day. An item's history
is a list of :class:`ItemState` — the state each of its events left it in, from the
day that event took effect. Between two events the state is constant, so the days a
rule holds are computed, not polled: :func:`flag_history` gives every raise and clear
up to a day, with the rule's id and version, the period it is about (for the
per-period rules) and the events that raised and cleared it; a flag's message is
computed from the item's state on the day it is read (or, once cleared, on its last
day up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.clock import ward_day
from domain.deadlines import Deadline
from domain.errors import DomainError
from domain.items import ItemStatus, Quality, TrackedItem
from domain.reporting import (
    Period,
    finest,
    first_checkpoint,
    period_from_label,
    period_name,
    period_of,
    periods_due,
    vn_date,
    within,
)
from domain.schedule import PlannedSpan, plan_end, planned_span
from domain.targets import Comparator, Target, parse_number
from domain.task import Task

BEHIND_RATIO = 0.5  # BEHIND_SCHEDULE: below half of the expected percent
OFF_TRACK_RATIO = 0.5  # KPI_OFF_TRACK: below half of the trajectory's share
VELOCITY_POINTS = 3  # the forecast uses the latest reports (and the item's start)
PERIODIC_DUTIES = ("yearly", "half_yearly", "quarterly", "monthly")  # judged by DUTY_PERIOD_UNMET
ONE_DAY = timedelta(days=1)
TIME = "time"  # what raised or cleared a flag when no event did: a day passing


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    text: str
    title: str  # what the ward calls it (Vietnamese), shown beside the id


RULES = {
    rule.id: rule
    for rule in (
        Rule(
            "PAST_DEADLINE",
            2,
            "a task open after its planned due day (the deadline's last day, or the end "
            "of the plan's year when the wording gives none) (004 III.2.3 a)",
            title="Quá hạn",
        ),
        Rule(
            "BEHIND_SCHEDULE",
            2,
            "after the plan's first reporting checkpoint, below 50% of the completion a "
            "linear schedule from the task's planned start to its due day expects "
            "(004 III.2.3 b)",
            title="Chậm tiến độ",
        ),
        Rule(
            "LOW_QUALITY_EVIDENCE",
            1,
            "the latest evidence review judged it low quality (004 III.2.3 c)",
            title="Minh chứng chất lượng thấp",
        ),
        Rule(
            "LATE_FORECAST",
            2,
            "early warning, after the first checkpoint: the finish forecast from the "
            "latest reports' velocity falls after the due day",
            title="Dự báo trễ hạn",
        ),
        Rule(
            "REPORT_MISSING",
            1,
            "a period of the plan's regime overlapping the item's span whose report's due "
            "day passed with no report of it from its lead units (đôn đốc)",
            title="Chưa báo cáo",
        ),
        Rule(
            "DUTY_PERIOD_UNMET",
            1,
            "a yearly, quarterly or monthly duty's period ended (its grace passed) with no "
            "progress report in it, or no evidence submitted in it when the duty names a "
            "product",
            title="Nhiệm vụ định kỳ chưa thực hiện",
        ),
        Rule(
            "KPI_OFF_TRACK",
            2,
            "after the first checkpoint, between the previous milestone's end (the plan's "
            "start for the first) and this milestone's end, the latest measurement has made "
            "less than 50% of the progress a linear trajectory from the previous milestone's "
            "figure (0 when none is comparable) to this one's expects by now; milestones "
            "judged by evidence are not on a trajectory",
            title="Chỉ tiêu chệch hướng",
        ),
        Rule(
            "KPI_MISSED",
            2,
            "each milestone on its own: its period ended and its latest measurement does not "
            "meet its target (or there is none; a compound target: a part is not met), or, "
            "for a milestone judged by evidence (a commitment 'X', a wording not "
            "machine-judged), no evidence submitted after the previous milestone's report "
            "due day and by its own was accepted",
            title="Chỉ tiêu không đạt",
        ),
    )
}


def rule_title(rule: str) -> str:
    """What the ward calls ``rule`` (its id when no rule has it)."""
    return RULES[rule].title if rule in RULES else rule


@dataclass(frozen=True)
class RedFlag:
    rule: str
    message: str
    version: int = 1
    period: str = ""  # the period a per-period flag is about (REPORT_MISSING, …)
    units: tuple[str, ...] = ()  # the units it urges


@dataclass(frozen=True)
class Frame:
    """What the plan says about how one of its items is judged."""

    plan_start: date
    year: int
    regime: str  # the finest period of the plan's reporting regime
    checkpoint: date  # the first report's due day: nothing is judged on a schedule by it
    upstream_dues: tuple[date, ...] = ()  # of the tasks declared upstream of it
    units: tuple[str, ...] = ()  # its lead units: who owes its reports
    product: bool = False  # the item names a product (an expected result)
    targets: tuple[tuple[str, Target], ...] = ()  # an indicator's, by period label

    @property
    def judged_from(self) -> date:
        """The first day an item is judged against a schedule or a milestone: the day
        after the first report was due (as REPORT_MISSING is first raised)."""
        return self.checkpoint + ONE_DAY

    @classmethod
    def of(cls, plan_start: date, year: int, reporting: Sequence[str], **item: Any) -> Frame:
        """The frame of an item of a plan starting on ``plan_start`` that wants the
        periodic reports ``reporting``."""
        checkpoint = first_checkpoint(plan_start, reporting)
        return cls(plan_start, year, finest(reporting), checkpoint, **item)


Noted = tuple[tuple[str, date, int], ...]  # (period label, first day it came, event version)


@dataclass(frozen=True)
class ItemState:
    """An item as one of its events left it, from ``day`` on."""

    ref: str  # the event: "PLAN/task/KEY@v7"
    day: date
    open: bool  # neither completed nor cancelled nor a group
    percent: int | None = None  # tasks only
    deadline: Deadline | None = None  # tasks only
    low_quality: str | None = None  # the evidence the latest review judged low quality
    reports: tuple[tuple[date, int], ...] = ()  # the latest (day, percent) reports
    status: str = ItemStatus.NOT_STARTED.value
    reported: Noted = ()  # per period reported (a task: the month of a report's as-of)
    evidenced: Noted = ()  # per month, the first evidence submitted in it
    measured: tuple[tuple[str, str], ...] = ()  # (period, latest value), latest last
    accepted: tuple[date, ...] = ()  # the days accepted evidence was submitted on

    @property
    def base(self) -> str:
        """The item's reference, without the event version."""
        return self.ref.rpartition("@")[0]

    def as_row(self) -> dict[str, Any]:
        def noted(entries: Noted) -> list[list[Any]]:
            return [[label, day.isoformat(), version] for label, day, version in entries]

        return {
            "ref": self.ref,
            "day": self.day.isoformat(),
            "open": self.open,
            "percent": self.percent,
            "deadline": self.deadline.to_dict() if self.deadline else None,
            "low_quality": self.low_quality,
            "reports": [[day.isoformat(), percent] for day, percent in self.reports],
            "status": self.status,
            "reported": noted(self.reported),
            "evidenced": noted(self.evidenced),
            "measured": [list(m) for m in self.measured],
            "accepted": [day.isoformat() for day in self.accepted],
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ItemState:
        def noted(entries: list[list[Any]]) -> Noted:
            return tuple((label, date.fromisoformat(day), v) for label, day, v in entries)

        return cls(
            ref=row["ref"],
            day=date.fromisoformat(row["day"]),
            open=row["open"],
            percent=row["percent"],
            deadline=Deadline.from_dict(row["deadline"]) if row["deadline"] else None,
            low_quality=row["low_quality"],
            reports=tuple((date.fromisoformat(d), p) for d, p in row["reports"]),
            status=row["status"],
            reported=noted(row["reported"]),
            evidenced=noted(row["evidenced"]),
            measured=tuple((p, v) for p, v in row["measured"]),
            accepted=tuple(date.fromisoformat(d) for d in row.get("accepted", [])),
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
    ``reports`` (with one report: from ``start`` at 0%); None when there is no
    velocity to judge by."""
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


def note(entries: Noted, label: str, day: date, version: int) -> Noted:
    """``entries`` with ``label`` noted as come on ``day`` (its first coming kept)."""
    return entries if any(e[0] == label for e in entries) else (*entries, (label, day, version))


def latest_measurements(measurements: dict[int, tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Per period its latest value, the period measured last at the end."""
    latest: dict[str, tuple[int, str]] = {}
    for version, (period, value) in sorted(measurements.items()):
        latest[period] = (version, value)
    return tuple((p, v) for p, (_, v) in sorted(latest.items(), key=lambda kv: kv[1][0]))


def next_state(before: ItemState | None, item: TrackedItem, event: Any) -> ItemState:
    """The state ``event`` left ``item`` in (``item`` is the aggregate after it)."""
    # the plan defined the item: it stands from the plan's start; a later state never
    # takes effect before the state it follows
    day = date.min if before is None else max(event_day(event), before.day)
    came, version = ward_day(event.occurred_at), event.originator_version
    kind = type(event).__name__
    low = before.low_quality if before else None
    quality = getattr(event, "quality", None)
    if quality is not None and getattr(event, "sha256", None):
        low = event.sha256 if quality == Quality.LOW.value else None
    reports = before.reports if before else ()
    reported = before.reported if before else ()
    evidenced = before.evidenced if before else ()
    task = item if isinstance(item, Task) else None
    if task and kind in ("ProgressReported", "ReportCorrected"):
        reports = (*reports, (day, task.percent))[-VELOCITY_POINTS:]
    if task and kind == "ProgressReported":
        reported = note(reported, period_of(event.as_of, "monthly").label, came, version)
    if kind == "Measured":
        reported = note(reported, event.period, came, version)
    if kind == "EvidenceSubmitted":
        evidenced = note(evidenced, period_of(came, "monthly").label, came, version)
        if getattr(item, "qualitative", False):  # nothing to measure: evidence is its report
            reported = note(reported, period_of(came, "monthly").label, came, version)
    return ItemState(
        ref=f"{item.ref}@v{item.version}",
        day=day,
        open=not item.group and not item.status.is_closed,
        percent=task.percent if task else None,
        deadline=task.deadline if task else None,
        low_quality=low if not item.status.is_closed else None,
        reports=reports,
        status=item.status.value,
        reported=reported,
        evidenced=evidenced,
        measured=latest_measurements(getattr(item, "measurements", {})),
        accepted=accepted_days(item),
    )


def accepted_days(item: TrackedItem) -> tuple[date, ...]:
    """The days the item's accepted evidence was submitted on, earliest first."""
    return tuple(
        sorted(
            e.submitted_on
            for e in item.evidence.values()
            if e.verdict == "accepted" and e.submitted_on is not None
        )
    )


# The rules ----------------------------------------------------------------------
# Each judges one open state held forever: per key (the period or milestone a
# per-period rule is about; "" for the others) the days it holds, [lo, hi) (hi None:
# on), and the event that ends it (None: a day passing, or the next event).

Hold = tuple[date, date | None, str | None]
Holds = dict[str, Hold]


def span_of(state: ItemState, frame: Frame) -> PlannedSpan:
    """The item's planned span (an indicator: from the plan's start, no due day)."""
    if state.deadline is None:
        return PlannedSpan(frame.plan_start, None)
    return planned_span(state.deadline, frame.plan_start, frame.year, frame.upstream_dues)


def past_deadline(state: ItemState, frame: Frame, _today: date) -> Holds:
    due = span_of(state, frame).due  # an indicator, a recurring duty: none
    return {"": (due + ONE_DAY, None, None)} if due else {}


def behind_schedule(state: ItemState, frame: Frame, _today: date) -> Holds:
    span = span_of(state, frame)
    if not state.reports:
        return {}  # a percent nobody reported is not judged: the report is owed (REPORT_MISSING)
    if span.due is None or state.percent is None or state.percent >= BEHIND_RATIO * 100:
        return {}
    days = (span.due - span.start).days
    # the first day d on which percent < 100 × BEHIND_RATIO × (d − start) / (due − start)
    first = span.start + timedelta(days=int(state.percent * days / (BEHIND_RATIO * 100)) + 1)
    return {"": (max(min(first, span.due), frame.judged_from), None, None)}


def late_forecast(state: ItemState, frame: Frame, _today: date) -> Holds:
    span = span_of(state, frame)
    forecast = forecast_finish(state.reports, span.start)
    if span.due is None or forecast is None or forecast <= span.due:
        return {}
    return {"": (max(state.day, frame.judged_from), span.due + ONE_DAY, None)}  # then late


def low_quality_evidence(state: ItemState, _frame: Frame, _today: date) -> Holds:
    return {"": (state.day, None, None)} if state.low_quality else {}


def came_in(entries: Noted, period: Period) -> tuple[date, int] | None:
    """The first coming of the ``entries`` whose period lies within ``period``."""
    found = [(day, v) for label, day, v in entries if within(period_from_label(label), period)]
    return min(found) if found else None


def until(state: ItemState, came: tuple[date, int] | None) -> tuple[date | None, str | None]:
    """Held until the report that came (None: on), and that report's event."""
    return (came[0], f"{state.base}@v{came[1]}") if came else (None, None)


def horizon(span: PlannedSpan, frame: Frame) -> date:
    """The last day an item owes periodic reports on: the end of its plan's year, or
    its due day or last milestone if later (a plan for a year asks nothing after)."""
    milestones = [period_from_label(label).last for label, _ in frame.targets]
    return max([plan_end(frame.year), *([span.due] if span.due else []), *milestones])


def due_periods(span: PlannedSpan, frame: Frame, kind: str, today: date) -> list[Period]:
    """The periods of ``kind`` in the item's reporting span whose report was due
    before ``today``."""
    return periods_due(span.start, horizon(span, frame), kind, today)


def report_missing(state: ItemState, frame: Frame, today: date) -> Holds:
    holds: Holds = {}
    for period in due_periods(span_of(state, frame), frame, frame.regime, today):
        hi, cause = until(state, came_in(state.reported, period))
        holds[period.label] = (period.due + ONE_DAY, hi, cause)
    return holds


def lacks_evidence(state: ItemState, frame: Frame, period: Period) -> bool:
    """Whether a duty that names a product had no evidence submitted in ``period`` or
    by its report's due day."""
    evidence = came_in(state.evidenced, period)
    return frame.product and (evidence is None or evidence[0] > period.due)


def duty_period_unmet(state: ItemState, frame: Frame, today: date) -> Holds:
    span = span_of(state, frame)
    if span.recurrence not in PERIODIC_DUTIES:
        return {}
    holds: Holds = {}
    for period in due_periods(span, frame, str(span.recurrence), today):
        if lacks_evidence(state, frame, period):
            holds[period.label] = (period.due + ONE_DAY, None, None)  # that period is over
        else:
            hi, cause = until(state, came_in(state.reported, period))
            holds[period.label] = (period.due + ONE_DAY, hi, cause)
    return holds


def measurement_for(state: ItemState, milestone: Period) -> str | None:
    """The latest value measured for a period starting by the milestone's end."""
    found = [v for p, v in state.measured if period_from_label(p).first <= milestone.last]
    return found[-1] if found else None


def attainment(target: Target, value: str) -> float | None:
    """How far ``value`` goes towards ``target`` (None: the target cannot read it)."""
    try:
        ratio = target.attainment(value)
    except DomainError:
        return None
    return None if ratio is None else float(ratio)


def meets(target: Target, value: str | None) -> bool:
    try:
        return value is not None and target.is_met(value)
    except DomainError:
        return False  # a value the target cannot read does not meet it


def evidence_window(frame: Frame, milestone: Period) -> tuple[date, date]:
    """The days evidence for a milestone is submitted in: after the previous
    milestone's report due day (the first: any day) up to its own."""
    before = [
        period_from_label(label).due
        for label, _ in frame.targets
        if period_from_label(label).last < milestone.last
    ]
    return (max(before) + ONE_DAY if before else date.min), milestone.due


def evidenced_by(state: ItemState, frame: Frame, milestone: Period) -> bool:
    """Evidence submitted in the milestone's window was accepted."""
    first, last = evidence_window(frame, milestone)
    return any(first <= day <= last for day in state.accepted)


def milestone_met(state: ItemState, frame: Frame, target: Target, milestone: Period) -> bool:
    """A milestone judged by evidence is met by accepted evidence submitted for it; any
    other by its latest measurement (a compound one: every part)."""
    if target.by_evidence:
        return evidenced_by(state, frame, milestone)
    return meets(target, measurement_for(state, milestone))


TRAJECTORY = frozenset({Comparator.GE, Comparator.GT, Comparator.EQ, Comparator.RANGE})


def baseline(previous: Target | None, target: Target) -> Decimal | None:
    """The previous milestone's figure, where the trajectory to ``target`` starts from
    it (both rising figures on one scale); None: from 0 (the attainment ratio)."""
    comparable = (
        previous is not None
        and previous.comparator in TRAJECTORY
        and target.comparator in TRAJECTORY
        and previous.percent == target.percent
        and previous.value is not None
        and target.value is not None
        and previous.value < target.value
    )
    return previous.value if comparable and previous is not None else None


def progress(target: Target, base: Decimal | None, value: str) -> float | None:
    """The share of the way from the baseline to the target ``value`` has come."""
    if base is None or target.value is None:
        return attainment(target, value)
    try:
        measured = parse_number(value)
    except DomainError:
        return None
    return float((measured - base) / (target.value - base))


def trajectories(frame: Frame) -> list[tuple[str, Target, date, Decimal | None]]:
    """Per milestone on a trajectory: its label, target, the day its trajectory starts
    (the previous milestone's end, else the plan's start) and its baseline figure."""
    found = []
    previous: tuple[Period, Target] | None = None
    for label, target in sorted(frame.targets, key=lambda lt: period_from_label(lt[0]).last):
        milestone = period_from_label(label)
        if not target.by_evidence:
            start = previous[0].last if previous else frame.plan_start
            found.append((label, target, start, baseline(previous and previous[1], target)))
        previous = (milestone, target)
    return found


def expected_figure(frame: Frame, label: str, day: date) -> Decimal | None:
    """The figure the linear trajectory to milestone ``label`` expects on ``day`` (from
    the previous milestone's figure, or 0, at its start); None before the trajectory
    starts, or for a milestone on none (judged by evidence, a level, a lower bound)."""
    for found, target, start, base in trajectories(frame):
        if found != label or target.value is None or day <= start:
            continue
        if target.comparator not in TRAJECTORY:
            return None
        end = period_from_label(label).last
        share = Decimal(min((day - start).days, (end - start).days)) / Decimal((end - start).days)
        origin = base if base is not None else Decimal(0)
        return round(origin + (target.value - origin) * share, 2)
    return None


def kpi_off_track(state: ItemState, frame: Frame, _today: date) -> Holds:
    holds: Holds = {}
    for label, target, start, base in trajectories(frame):
        milestone = period_from_label(label)
        value = measurement_for(state, milestone)
        share = None if value is None else progress(target, base, value)
        if share is None or share >= OFF_TRACK_RATIO:
            continue
        # the first day d on which share < 0.5 × (d − start) / (milestone end − start)
        days = (milestone.last - start).days
        first = start + timedelta(days=max(int(share / OFF_TRACK_RATIO * days), 0) + 1)
        holds[label] = (max(first, frame.judged_from), milestone.last + ONE_DAY, None)
    return holds


def kpi_missed(state: ItemState, frame: Frame, _today: date) -> Holds:
    # a milestone that ended before the plan's first checkpoint (a 2025 result asked
    # by a 2026 plan) is judged after it: nobody could have reported before
    return {
        label: (max(period_from_label(label).last + ONE_DAY, frame.judged_from), None, None)
        for label, target in frame.targets
        if not milestone_met(state, frame, target, period_from_label(label))
    }


JUDGES: dict[str, Callable[[ItemState, Frame, date], Holds]] = {
    "PAST_DEADLINE": past_deadline,
    "BEHIND_SCHEDULE": behind_schedule,
    "LOW_QUALITY_EVIDENCE": low_quality_evidence,
    "LATE_FORECAST": late_forecast,
    "REPORT_MISSING": report_missing,
    "DUTY_PERIOD_UNMET": duty_period_unmet,
    "KPI_OFF_TRACK": kpi_off_track,
    "KPI_MISSED": kpi_missed,
}
PER_ITEM_UNITS = ("REPORT_MISSING", "DUTY_PERIOD_UNMET")  # flags that urge the leads


def judge(state: ItemState, frame: Frame, today: date) -> dict[tuple[str, str], Hold]:
    """Per (rule, key), the days it holds for ``state`` held forever."""
    if not state.open:
        return {}
    return {
        (rule, key): hold
        for rule, judged in JUDGES.items()
        for key, hold in judged(state, frame, today).items()
    }


def holds_on(state: ItemState, frame: Frame, flag: tuple[str, str], day: date) -> bool:
    hold = judge(state, frame, day).get(flag)
    return hold is not None and hold[0] <= day and (hold[1] is None or day < hold[1])


# Messages -----------------------------------------------------------------------


RECURRENCE_WORDS = {
    "yearly": "hằng năm",
    "half_yearly": "6 tháng",
    "quarterly": "hằng quý",
    "monthly": "hằng tháng",
    "continuous": "thường xuyên",
    "cycle": "theo chu kỳ",
    "ad_hoc": "đột xuất",
}
"""A recurring duty's cycle as a flag's message says it (``domain.deadlines.Recurrence``)."""


def in_words(period: Period) -> str:
    """A period inside a sentence: "quý I năm 2026", "tháng 2 năm 2026"."""
    name = period_name(period)
    return name[0].lower() + name[1:]


def on(day: date | None) -> str:
    """A day in a message, as the ward writes it; "chưa xác định" when there is none."""
    return vn_date(day) if day is not None else "chưa xác định"


def percent(value: float) -> str:
    """A percent with one decimal, in the Vietnamese way: 67,4."""
    return f"{value:.1f}".replace(".", ",")


def past_deadline_message(_key: str, state: ItemState, frame: Frame, day: date) -> str:
    due = on(span_of(state, frame).due)
    return f"Quá hạn: đạt {state.percent}% vào ngày {vn_date(day)}, hạn {due}"


def behind_message(_key: str, state: ItemState, frame: Frame, day: date) -> str:
    span = span_of(state, frame)
    expected = expected_percent(span.start, span.due or day, day)
    return f"Chậm tiến độ: đạt {state.percent}%, cần {percent(expected)}% vào ngày {vn_date(day)}"


def forecast_message(_key: str, state: ItemState, frame: Frame, _day: date) -> str:
    span = span_of(state, frame)
    forecast = forecast_finish(state.reports, span.start)
    return f"Theo tốc độ đã báo cáo, dự kiến xong ngày {on(forecast)}, hạn {on(span.due)}"


def low_quality_message(_key: str, state: ItemState, _frame: Frame, _day: date) -> str:
    return f"Minh chứng {(state.low_quality or '')[:12]}… bị đánh giá chất lượng thấp"


def owing(frame: Frame) -> str:
    return ", ".join(frame.units) or "các đơn vị chủ trì"


def missing_message(key: str, _state: ItemState, frame: Frame, _day: date) -> str:
    period = period_from_label(key)
    return f"Chưa báo cáo {in_words(period)} (hạn {vn_date(period.due)}): {owing(frame)}"


def unmet_message(key: str, state: ItemState, frame: Frame, _day: date) -> str:
    period, recurrence = period_from_label(key), span_of(state, frame).recurrence
    duty = f"Nhiệm vụ {RECURRENCE_WORDS.get(recurrence or '', 'định kỳ')}"
    if lacks_evidence(state, frame, period):
        return f"{duty}: chưa nộp minh chứng {in_words(period)} (hạn {vn_date(period.due)})"
    return f"{duty}: chưa báo cáo tiến độ {in_words(period)}: {owing(frame)}"


def missed_message(key: str, state: ItemState, frame: Frame, _day: date) -> str:
    target, milestone = dict(frame.targets)[key], period_from_label(key)
    if target.by_evidence:
        return (
            f"Chỉ tiêu {in_words(milestone)} “{target.text}” "
            f"(hạn {vn_date(milestone.last)}) chưa đạt: không có "
            f"minh chứng được chấp nhận nộp từ {vn_date(evidence_window(frame, milestone)[0])} "
            f"đến {vn_date(milestone.due)}"
        )
    value = measurement_for(state, milestone)
    if value is None:
        return f"Chỉ tiêu {in_words(milestone)} “{target.text}” chưa đạt: chưa có số đo"
    unmet = [
        f"{part.text.strip()} (đo được {measured})"
        for part, measured in zip(target.parts, parts_of(target, value), strict=False)
        if not meets(part, measured)
    ]
    which = f"; phần chưa đạt: {', '.join(unmet)}" if unmet else ""
    return f"Chỉ tiêu {in_words(milestone)} “{target.text}” chưa đạt: số đo mới nhất {value}{which}"


def parts_of(target: Target, value: str) -> list[str]:
    """A compound target's measured value a part ([] when it is not one, or unreadable)."""
    try:
        return target.split(value) if target.parts else []
    except DomainError:
        return []


def off_track_message(key: str, state: ItemState, frame: Frame, day: date) -> str:
    found = {label: (target, start, base) for label, target, start, base in trajectories(frame)}
    target, start, base = found[key]
    milestone = period_from_label(key)
    value = measurement_for(state, milestone)
    share = (day - start).days / max((milestone.last - start).days, 1)
    made = progress(target, base, str(value))
    way = "chỉ tiêu" if base is None else f"chặng đường từ {base}"
    return (
        f"Chệch hướng: số đo {value} so với chỉ tiêu {target.text} "
        f"{in_words(milestone)}: đạt "
        f"{made or 0:.0%} {way}, cần ít nhất {OFF_TRACK_RATIO * share:.0%} "
        f"vào ngày {vn_date(day)}"
    )


WORDINGS: dict[str, Callable[[str, ItemState, Frame, date], str]] = {
    "PAST_DEADLINE": past_deadline_message,
    "BEHIND_SCHEDULE": behind_message,
    "LOW_QUALITY_EVIDENCE": low_quality_message,
    "LATE_FORECAST": forecast_message,
    "REPORT_MISSING": missing_message,
    "DUTY_PERIOD_UNMET": unmet_message,
    "KPI_OFF_TRACK": off_track_message,
    "KPI_MISSED": missed_message,
}


# The history --------------------------------------------------------------------


@dataclass(frozen=True)
class FlagSpan:
    """One raise of a flag and, if it cleared, its clear."""

    rule: str
    version: int
    raised_on: date
    raised_by: str  # the event whose state raised it ("…@vN"); the clock raised it if
    raised_at_event: bool  # False: a day passing with that state (a deadline, a schedule)
    message: str = ""
    cleared_on: date | None = None
    cleared_by: str | None = None  # the event that cleared it, or TIME
    period: str = ""  # the period or milestone a per-period flag is about
    units: tuple[str, ...] = ()  # the units a flag urges (REPORT_MISSING, DUTY_PERIOD_UNMET)

    @property
    def flag(self) -> RedFlag:
        """The flag as shown while it is up."""
        return RedFlag(self.rule, self.message, self.version, self.period, self.units)

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
            "period": self.period,
            "units": list(self.units),
        }


def credited(group: list[ItemState], frame: Frame, flag: tuple[str, str], *, holding: bool) -> str:
    """The event of a day's ``group`` a change is credited to: the first from which
    ``flag`` held (``holding``), or did not, through the end of that day."""
    day = group[-1].day
    first = len(group) - 1
    while first > 0 and holds_on(group[first - 1], frame, flag, day) == holding:
        first -= 1
    return group[first].ref


def in_force(states: list[ItemState], day: date) -> ItemState | None:
    """The state ``states`` had on ``day``."""
    found = [s for s in states if s.day <= day]
    return found[-1] if found else None


def flag_history(states: list[ItemState], frame: Frame, today: date) -> list[FlagSpan]:
    """Every raise and clear of every rule up to ``today`` (inclusive), oldest first;
    each message in the figures of ``today`` (a cleared flag: of its last day up)."""
    days: list[list[ItemState]] = []
    for state in (s for s in states if s.day <= today):
        if days and days[-1][-1].day == state.day:
            days[-1].append(state)
        else:
            days.append([state])
    spans: list[FlagSpan] = []
    up: dict[tuple[str, str], FlagSpan] = {}
    for index, group in enumerate(days):
        state, start = group[-1], group[-1].day
        ends = days[index + 1][-1].day if index + 1 < len(days) else today + ONE_DAY
        held = {
            flag: (max(lo, start), min(hi or ends, ends), cause)
            for flag, (lo, hi, cause) in judge(state, frame, today).items()
            if max(lo, start) < min(hi or ends, ends)
        }
        for flag in [f for f in up if held.get(f, (None,))[0] != start]:
            cleared = credited(group, frame, flag, holding=False)
            spans.append(replace(up.pop(flag), cleared_on=start, cleared_by=cleared))
        for flag, (lo, hi, cause) in held.items():
            rule, key = flag
            if flag not in up:
                at_event = lo == start
                by = credited(group, frame, flag, holding=True) if at_event else state.ref
                units = frame.units if rule in PER_ITEM_UNITS else ()
                version = RULES[rule].version
                up[flag] = FlagSpan(rule, version, lo, by, at_event, period=key, units=units)
            if hi < ends:  # stops holding within this state
                spans.append(replace(up.pop(flag), cleared_on=hi, cleared_by=cause or TIME))
    spans += up.values()
    return sorted(
        (worded(span, states, frame, today) for span in spans),
        key=lambda s: (s.raised_on, s.rule, s.period),
    )


def worded(span: FlagSpan, states: list[ItemState], frame: Frame, today: date) -> FlagSpan:
    """``span`` with its message in the figures of ``today`` or of its last day up."""
    day = span.cleared_on - ONE_DAY if span.cleared_on else today
    state = in_force(states, day)
    if state is None:
        return span
    return replace(span, message=WORDINGS[span.rule](span.period, state, frame, day))


def open_flags(states: list[ItemState], frame: Frame, today: date) -> list[RedFlag]:
    """The flags up on ``today``."""
    return [s.flag for s in flag_history(states, frame, today) if s.cleared_on is None]
