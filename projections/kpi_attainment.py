"""The KPI attainment view: per indicator, each period's target beside its latest
measured value (corrections applied), whether it is met, the attainment ratio and a
standing — the 2026 target and the 2030 milestone side by side.

Standing: ``met``; ``at_risk`` (at least 80% of the way); ``off_track``; ``no_data``;
``unjudgeable`` (a recorded value the target cannot read, such as a level against a
number).
Each period is a milestone (2025, 2030, … 2045 on one indicator), due on the last day
of its period and judged on its own. A target judged by review (a commitment "X", a
wording not machine-judged) is ``met`` once evidence submitted for it (after the
previous milestone's report due day, by its own) was accepted, else
``awaiting_review``. A compound target ("100% & > 50%") has a
standing per part (``parts``) and is met when every part is.
A measurement of a quarter or month ("2026-Q1") counts towards its year's target,
and every measurement of a period begun by a milestone's end towards that milestone:
the latest of them (:func:`latest_by`) is what the target is judged on, as the red
flags judge it. Completion is judged on the latest measured target year (an
indicator is "Hoàn thành" only when the latest measurement of its latest measured
target year is ``met``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.errors import UnrecognisedMeasurementError
from domain.flags import Frame, evidence_window
from domain.ids import indicator_ref
from domain.indicator import Indicator
from domain.reporting import period_from_label
from domain.targets import Target
from projections.engine.replay import AggregateView
from projections.engine.rows import Row
from projections.plans import indicator_details

AT_RISK = Decimal("0.8")


def standing(target: Target, value: str | None) -> tuple[bool | None, str | None, str]:
    if value is None:
        return None, None, "no_data"
    try:
        met = target.is_met(value)
        ratio = target.attainment(value)
    except UnrecognisedMeasurementError:
        # recorded, but not comparable with this target (a level measured against a
        # numeric target): the log keeps it; the view cannot judge it, and must not stop
        return None, None, "unjudgeable"
    if met:
        return True, str(ratio) if ratio is not None else None, "met"
    at_risk = ratio is not None and ratio >= AT_RISK
    return False, str(ratio) if ratio is not None else None, "at_risk" if at_risk else "off_track"


def part_standings(target: Target, value: str | None) -> list[Row]:
    """A compound target's parts beside their measured values."""
    if not target.parts:
        return []
    try:
        values: list[str | None] = list(target.split(value)) if value is not None else []
    except UnrecognisedMeasurementError:
        values = []
    values += [None] * (len(target.parts) - len(values))
    return [
        {"target": part.text.strip(), "value": v, "standing": standing(part, v)[2]}
        for part, v in zip(target.parts, values, strict=True)
    ]


def reviewed(indicator: Indicator, period: str) -> bool:
    """Evidence submitted for the milestone (after the previous milestone's report due
    day, by its own) was accepted: :func:`domain.flags.evidence_window`."""
    milestone = period_from_label(period)
    frame = Frame(date.min, 0, "", date.min, targets=tuple(indicator.targets.items()))
    first, last = evidence_window(frame, milestone)
    return any(
        e.verdict == "accepted" and e.submitted_on is not None and first <= e.submitted_on <= last
        for e in indicator.evidence.values()
    )


def latest_by(indicator: Indicator, period: str) -> tuple[str, str] | None:
    """The latest measurement (period, value) of a period that began by the milestone's
    end, corrections applied — as the red flags judge a milestone
    (:func:`domain.flags.measurement_for`): a 2030 milestone is judged in 2027 on the
    latest figure, a 2025 one never on a 2027 figure."""
    end = period_from_label(period).last
    found = [
        m for _, m in sorted(indicator.measurements.items()) if period_from_label(m[0]).first <= end
    ]
    return found[-1] if found else None


def row_of(indicator: Indicator) -> Row:
    periods = {}
    for period, target in sorted(indicator.targets.items()):
        measured = latest_by(indicator, period)
        met, ratio, state = standing(target, measured[1] if measured else None)
        if target.by_evidence:
            met = reviewed(indicator, period)
            ratio, state = None, "met" if met else "awaiting_review"
        periods[period] = {
            "target": target.text,
            "comparator": target.comparator.value,
            "measured_period": measured[0] if measured else None,
            "value": measured[1] if measured else None,
            "met": met,
            "attainment": ratio,
            "standing": state,
            "due": period_from_label(period).last.isoformat(),
            "machine_judged": target.machine_judged,
            "parts": part_standings(target, measured[1] if measured else None),
        }
    return {
        "plan": indicator.plan,
        "number": indicator.key,
        "code": indicator.definition.get("code"),
        "name": indicator.definition.get("name"),
        "group": indicator.group,
        "unit": indicator.definition.get("unit"),
        "lead": list(indicator.lead),
        "monitor": list(indicator.monitor),
        "status": indicator.status.value,
        "periods": periods,
        "version": indicator.version,
        **indicator_details(indicator),
    }


class KpiAttainmentView(AggregateView):
    name = "kpi_attainment"
    prefixes = ("lienthong.indicator.",)

    def rows_of(self, indicator: Indicator) -> dict[str, Row | None]:
        return {indicator_ref(indicator.plan, indicator.key): row_of(indicator)}
