"""Valid time: the day a fact is about, as against when it was recorded.

A read "as of day D" shows what the reports said about D: a fact about a later day
is left out of it, however early it was recorded. The day a fact is about:

- a report (:class:`~domain.task.Task.ProgressReported`,
  :class:`~domain.task.Task.ContributionReported`,
  :class:`~domain.indicator.Indicator.Measured`): its own ``as_of``;
- a correction: the day of the report or measurement it corrects (it says what that
  report should have said);
- any other fact on a tracked item (evidence and its review, a completion claimed
  or confirmed, an obstacle raised or resolved, a deadline changed, a cancellation):
  the ward's day of its ``occurred_at`` — and never before the day of the fact it
  answers (a review is not about a day before its evidence, a confirmation before
  its claim, a resolution before its obstacle), so a read never meets an answer
  without what it answers;
- everything else — plans and their amendments and dependencies, the items'
  definitions, agencies, keys, submission receipts — is about no day in particular
  (:data:`None`): the plans' structure as recorded applies to every day.

:class:`ValidDays` remembers the days later facts refer to, one item version (or
evidence, claim, obstacle) at a time: hand it the facts in the log's order.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date
from typing import Any
from uuid import UUID

from domain.clock import ward_day
from domain.indicator import Indicator
from domain.items import TrackedItem
from domain.task import Task

REPORTS = (Task.ProgressReported, Task.ContributionReported, Indicator.Measured)
REVIEWS = (
    TrackedItem.EvidenceAccepted,
    TrackedItem.EvidenceRejected,
    TrackedItem.ReturnedForCompletion,
)
ITEM_FACTS = (
    *REVIEWS,
    TrackedItem.EvidenceSubmitted,
    TrackedItem.CompletionClaimed,
    TrackedItem.CompletionConfirmed,
    TrackedItem.ObstacleRaised,
    TrackedItem.ObstacleResolved,
    TrackedItem.Cancelled,
    Task.DeadlineChanged,
)


def answered(fact: Any) -> list[Hashable]:
    """What earlier facts of the same item ``fact`` answers (by what it names them)."""
    if isinstance(fact, TrackedItem.CompletionClaimed):
        return [("evidence", sha256) for sha256 in fact.evidence]
    if isinstance(fact, TrackedItem.CompletionConfirmed):
        return [("claim",)]
    if isinstance(fact, TrackedItem.ObstacleResolved):
        return [("obstacle", fact.obstacle_id)]
    if isinstance(fact, REVIEWS):
        return [("evidence", fact.sha256)]
    return []


def named(fact: Any) -> Hashable | None:
    """What later facts of the same item will name ``fact`` by."""
    if isinstance(fact, TrackedItem.EvidenceSubmitted):
        return ("evidence", fact.sha256)
    if isinstance(fact, TrackedItem.CompletionClaimed):
        return ("claim",)
    if isinstance(fact, TrackedItem.ObstacleRaised):
        return ("obstacle", fact.obstacle_id)
    return None


class ValidDays:
    """The day each fact is about (the module's rule), remembering the days of the
    facts later ones refer to: (item id, version or name) → day."""

    def __init__(self) -> None:
        self.days: dict[tuple[UUID, Hashable], date] = {}

    def day_of(self, fact: Any) -> date | None:
        """The day ``fact`` is about; None for a fact about every day."""
        item = fact.originator_id
        if isinstance(fact, REPORTS):
            self.days[item, fact.originator_version] = fact.as_of
            return fact.as_of
        if isinstance(fact, Task.ReportCorrected):
            return self.days.get((item, fact.report_version))
        if isinstance(fact, Indicator.MeasurementCorrected):
            return self.days.get((item, fact.measurement_version))
        if not isinstance(fact, ITEM_FACTS):
            return None
        earlier = [self.days[item, name] for name in answered(fact) if (item, name) in self.days]
        day = max([ward_day(fact.occurred_at), *earlier])
        name = named(fact)
        if name is not None:
            self.days[item, name] = day
        return day

    def after(self, fact: Any, day: date) -> bool:
        """Whether ``fact`` is about a day after ``day`` (a read as of ``day`` leaves it out)."""
        about = self.day_of(fact)
        return about is not None and about > day
