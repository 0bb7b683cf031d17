"""An indicator (chỉ tiêu, KPI): a unit, targets per period, a lead and a monitor.

Rules: measurements and completion claims come from a lead unit or the monitoring
unit (the plans call it "đơn vị chủ trì, theo dõi, đánh giá", and often name the
public as the producer of a KPI and the monitor as who measures it); a
measurement's unit must match the indicator's; a measurement is changed only by a
correction that points at it, with a reason; an indicator is claimed and confirmed
"Hoàn thành" only when the latest measurement of its latest measured target year
meets that year's target (:meth:`Indicator.target_met`), and a completed or claimed
indicator whose figures fall below it (a lower measurement, a correction) goes back
to in progress.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import (
    DomainError,
    DuplicateTargetError,
    InvalidValueError,
    KpiTargetNotMetError,
    NotLeadUnitError,
    NotMeasuredError,
    UnknownReportError,
    UnrecognisedMeasurementError,
    reject_unknown_fields,
)
from domain.facts import Fact, topical
from domain.ids import SubjectKind
from domain.items import ItemStatus, TrackedItem, require_reason
from domain.targets import Comparator, Target, parse_level, parse_number, read_target
from domain.units import Unit, UnitKind, check_measurement_unit, parse_unit

INDICATOR_FIELDS = (
    "code",
    "parent",
    "group",
    "section",
    "name",
    "unit",
    "targets",
    "lead",
    "lead_text",
    "monitor",
    "monitor_text",
    "note",
    "same_as",
    "printed_number",
)
PERIOD = re.compile(r"^\d{4}(?:-(?:Q[1-4]|H[12]|0[1-9]|1[0-2]))?$")


def check_period(period: str) -> str:
    """Periods are ``2026``, ``2026-Q1``, ``2026-H1`` or ``2026-03``."""
    if not PERIOD.match(period):
        msg = f"{period!r} is not a period (2026, 2026-Q1, 2026-H1 or 2026-03)"
        raise InvalidValueError(msg, field="period")
    return period


def parse_targets(targets: list[dict[str, Any]]) -> dict[str, Target]:
    """Targets (milestones) by period, read from their original wording; one per
    period. A wording the system cannot read is kept as not machine-judged
    (:func:`domain.targets.read_target`)."""
    parsed: dict[str, Target] = {}
    for target in targets:
        period = str(target.get("period", ""))
        if not PERIOD.match(period):
            msg = f"target period {period!r} is not a year or a period of one"
            raise InvalidValueError(msg, field="targets.period")
        value = str(target.get("value", ""))
        if period in parsed:
            msg = (
                f"two targets for {period}: {parsed[period].text!r} and {value!r} "
                "(one target a period; amend the plan to change it)"
            )
            raise DuplicateTargetError(msg, field="targets.period")
        parsed[period] = read_target(value)
    return parsed


class Indicator(TrackedItem):
    TOPIC = "lienthong.Indicator"
    KIND = SubjectKind.INDICATOR

    def __init__(self) -> None:
        super().__init__()
        self.unit: Unit | None = None
        self.targets: dict[str, Target] = {}
        self.monitor: tuple[str, ...] = ()
        self.measurements: dict[int, tuple[str, str]] = {}
        self.measured_on: dict[int, date] = {}  # the day each measurement is about

    def apply_definition(self, definition: dict[str, Any]) -> None:
        self.merge_definition(definition)
        self.group = bool(self.definition.get("group"))
        self.lead = tuple(self.definition.get("lead", ()))
        self.monitor = tuple(self.definition.get("monitor", ()))
        unit = self.definition.get("unit")
        self.unit = parse_unit(unit) if unit else None
        self.targets = parse_targets(self.definition.get("targets", []))

    @property
    def monitors(self) -> tuple[str, ...]:
        return self.monitor

    @property
    def qualitative(self) -> bool:
        """Every target is judged by review of evidence (a commitment "X", or a
        wording not machine-judged): nothing to measure."""
        return bool(self.targets) and all(t.by_evidence for t in self.targets.values())

    @classmethod
    def check_definition(cls, definition: dict[str, Any]) -> None:
        """An indicator that is not a group needs a unit, unless every target is
        qualitative (judged by evidence); targets must be one a period."""
        reject_unknown_fields(definition, INDICATOR_FIELDS, "indicator")
        targets = parse_targets(definition.get("targets", []))
        qualitative = bool(targets) and all(t.by_evidence for t in targets.values())
        if definition.get("unit"):
            parse_unit(definition["unit"])
        elif not definition.get("group") and not qualitative:
            raise InvalidValueError("an indicator needs a unit", field="unit")

    @property
    def participants(self) -> tuple[str, ...]:
        return self.lead + self.monitor

    # Definition ------------------------------------------------------------

    class Created(Aggregate.Created):
        TOPIC = "lienthong.indicator.Created"

    class Defined(Created, Fact):
        """A plan defined the indicator: unit, targets per period, lead and monitor."""

        TOPIC = "lienthong.indicator.Defined"
        class_version = 1
        plan: str
        key: str
        definition: dict[str, Any]

        def apply(self, indicator: Indicator) -> None:
            indicator.plan = self.plan
            indicator.key = self.key
            indicator.apply_definition(self.definition)
            indicator.filed = dict(indicator.definition)

    @classmethod
    def define(
        cls,
        ctx: Context,
        *,
        id: UUID,  # noqa: A002 - the library's name for an aggregate id
        plan: str,
        key: str,
        definition: dict[str, Any],
    ) -> Indicator:
        """Define an indicator; ``definition`` holds :data:`INDICATOR_FIELDS`."""
        cls.check_definition(definition)
        return cls._create(
            cls.Defined, id=id, plan=plan, key=key, definition=definition, **ctx.event_fields()
        )

    # Measurements ----------------------------------------------------------

    def _check_value(self, value: str, unit: str) -> str:
        """The measured value in its stored form; refused with field ``value``."""
        if self.unit is None:  # groups are refused before; qualitative indicators here
            msg = f"{self.key} has no unit: it is judged by accepted evidence, not measured"
            raise NotMeasuredError(msg, field="value")
        check_measurement_unit(self.unit, unit)
        if "&" in value and any(t.comparator is Comparator.COMPOUND for t in self.targets.values()):
            return " & ".join(self._check_value(part, unit) for part in value.split("&"))
        try:
            if self.unit.kind is UnitKind.LEVEL:
                parse_level(value)
                return value.strip()
            number = parse_number(value)
        except DomainError:
            number = Decimal("NaN")
        if not number.is_finite() or number < 0:
            what = "a level" if self.unit.kind is UnitKind.LEVEL else "a non-negative number"
            raise UnrecognisedMeasurementError(f"{value!r} is not {what}", field="value")
        return str(number)

    def _require_lead(self, ctx: Context) -> None:
        """The plans name the monitor "đơn vị chủ trì, theo dõi, đánh giá": it leads
        the reporting of the indicator together with the lead unit."""
        if not ctx.acts_for(self.lead + self.monitor):
            msg = f"{ctx.agency} neither leads nor monitors {self.key}"
            raise NotLeadUnitError(msg, field="agency")

    def record_measurement(
        self, ctx: Context, *, value: str, unit: str, period: str, as_of: date, note: str = ""
    ) -> None:
        self._require_open()
        self._require_lead(ctx)
        self.trigger_event(
            self.Measured,
            value=self._check_value(value, unit),
            unit=unit.strip(),
            period=check_period(period),
            as_of=as_of,
            note=note.strip(),
            **ctx.event_fields(),
        )

    class Measured(Fact):
        TOPIC = "lienthong.indicator.Measured"
        value: str
        unit: str
        period: str
        as_of: date
        note: str

        def apply(self, indicator: Indicator) -> None:
            indicator.measurements[self.originator_version] = (self.period, self.value)
            indicator.measured_on[self.originator_version] = self.as_of
            indicator.acted_by.add(self.actor)
            if indicator.status is ItemStatus.NOT_STARTED:
                indicator.status = ItemStatus.IN_PROGRESS
            indicator.settle_completion()

    def correct_measurement(
        self, ctx: Context, *, measurement_version: int, value: str, unit: str, reason: str
    ) -> None:
        self._require_open()
        self._require_lead(ctx)
        if measurement_version not in self.measurements:
            msg = f"{self.key} has no measurement at version {measurement_version}"
            raise UnknownReportError(msg, field="measurement_version")
        self.trigger_event(
            self.MeasurementCorrected,
            measurement_version=measurement_version,
            value=self._check_value(value, unit),
            unit=unit.strip(),
            reason=require_reason(reason),
            **ctx.event_fields(),
        )

    class MeasurementCorrected(Fact):
        TOPIC = "lienthong.indicator.MeasurementCorrected"
        measurement_version: int
        value: str
        unit: str
        reason: str

        def apply(self, indicator: Indicator) -> None:
            period, _ = indicator.measurements[self.measurement_version]
            indicator.measurements[self.measurement_version] = (period, self.value)
            indicator.settle_completion()

    def latest(self, period: str) -> str | None:
        """The latest measured value for a period, corrections applied."""
        values = [v for _, (p, v) in sorted(self.measurements.items()) if p == period]
        return values[-1] if values else None

    def latest_of_year(self, year: str) -> tuple[str, str] | None:
        """The latest measurement (period, value) of ``year`` or of a period within it,
        corrections applied: what the year's target is judged on."""
        found = [m for _, m in sorted(self.measurements.items()) if m[0].split("-")[0] == year]
        return found[-1] if found else None

    # Completion ("Hoàn thành") ----------------------------------------------

    def target_met(self) -> tuple[bool, str]:
        """Whether the latest measurement of the latest measured year that has a target
        meets that target, and why (the figures, for a refusal)."""
        if self.qualitative:
            return True, f"{self.key} is judged by review of its evidence"
        years = sorted({period.split("-")[0] for period, _ in self.measurements.values()})
        targeted = [year for year in years if year in self.targets]
        if not targeted:
            return False, f"{self.key} has no measurement for a target period yet"
        year = targeted[-1]
        period, value = self.latest_of_year(year) or ("", "")
        met = self.meets(year, value)
        verdict = "meets" if met else "does not meet"
        target = self.targets[year].text
        return met, f"{self.key}'s latest measurement {value} ({period}) {verdict} {target}"

    def meets(self, year: str, value: str) -> bool:
        """Whether ``value`` meets the target of ``year`` (not when the target cannot
        read it, such as a level against a number)."""
        try:
            return self.targets[year].is_met(value)
        except UnrecognisedMeasurementError:
            return False

    def check_complete(self) -> None:
        met, why = self.target_met()
        if not met:
            raise KpiTargetNotMetError(f"{why}: it is not complete", field="value")

    def settle_completion(self) -> None:
        """A claimed or completed indicator whose figures no longer meet its target goes
        back to in progress."""
        if self.status in (ItemStatus.SUBMITTED, ItemStatus.COMPLETED) and not self.target_met()[0]:
            self.status = ItemStatus.IN_PROGRESS
            self.claim = ()
            self.claimed_by = ""
            self.completed_on = None

    # Shared facts, stored under this aggregate's own topics ------------------

    EvidenceSubmitted = topical(TrackedItem.EvidenceSubmitted, "indicator.EvidenceSubmitted")
    EvidenceAccepted = topical(TrackedItem.EvidenceAccepted, "indicator.EvidenceAccepted")
    EvidenceRejected = topical(TrackedItem.EvidenceRejected, "indicator.EvidenceRejected")
    ReturnedForCompletion = topical(
        TrackedItem.ReturnedForCompletion, "indicator.ReturnedForCompletion"
    )
    CompletionClaimed = topical(TrackedItem.CompletionClaimed, "indicator.CompletionClaimed")
    CompletionConfirmed = topical(TrackedItem.CompletionConfirmed, "indicator.CompletionConfirmed")
    ObstacleRaised = topical(TrackedItem.ObstacleRaised, "indicator.ObstacleRaised")
    ObstacleResolved = topical(TrackedItem.ObstacleResolved, "indicator.ObstacleResolved")
    Amended = topical(TrackedItem.Amended, "indicator.Amended")
    Cancelled = topical(TrackedItem.Cancelled, "indicator.Cancelled")
