"""The KPI attainment view: per indicator, each period's target beside its latest
measured value (corrections applied), whether it is met, the attainment ratio and a
standing — the 2026 target and the 2030 milestone side by side.

Standing: ``met``; ``at_risk`` (at least 80% of the way); ``off_track``; ``no_data``;
``unjudgeable`` (a recorded value the target cannot read, such as a level against a
number).
A measurement of a quarter or month ("2026-Q1") counts towards its year's target:
the year's latest measurement (``Indicator.latest_of_year``) is what the target is
judged on, as completion is (an indicator is "Hoàn thành" only when the latest
measurement of its latest measured target year is ``met``).
"""

from __future__ import annotations

from decimal import Decimal

from domain.errors import UnrecognisedMeasurementError
from domain.ids import indicator_ref
from domain.indicator import Indicator
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


def row_of(indicator: Indicator) -> Row:
    periods = {}
    for period, target in sorted(indicator.targets.items()):
        measured = indicator.latest_of_year(period)
        met, ratio, state = standing(target, measured[1] if measured else None)
        periods[period] = {
            "target": target.text,
            "comparator": target.comparator.value,
            "measured_period": measured[0] if measured else None,
            "value": measured[1] if measured else None,
            "met": met,
            "attainment": ratio,
            "standing": state,
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
