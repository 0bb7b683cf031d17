"""Red flags, exactly the plans' three rules (Bình Long plan, III.2.3):

- ``PAST_DEADLINE`` — past its target date and not done;
- ``BEHIND_SCHEDULE`` — below 50% of the completion the time-based schedule expects
  (linear from the plan's start to the deadline);
- ``LOW_QUALITY_EVIDENCE`` — judged low quality after the evidence review.

Pure functions of an item and a day; the projections keep their raise/clear history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.items import ItemStatus, Quality, TrackedItem
from domain.task import Task

BEHIND_RATIO = 0.5
CLOSED = (ItemStatus.COMPLETED, ItemStatus.CANCELLED)


@dataclass(frozen=True)
class RedFlag:
    rule: str
    message: str


def expected_percent(start: date, due: date, today: date) -> float:
    """The completion a linear schedule from ``start`` to ``due`` expects on ``today``."""
    if today >= due:
        return 100.0
    if today <= start or due <= start:
        return 0.0
    return 100.0 * (today - start).days / (due - start).days


def red_flags(item: TrackedItem, plan_start: date, today: date) -> list[RedFlag]:
    """The red flags ``item`` shows on ``today``."""
    if item.group or item.status in CLOSED:
        return []
    flags = []
    if isinstance(item, Task) and item.deadline.due is not None:
        due = item.deadline.due
        if due < today:
            flags.append(RedFlag("PAST_DEADLINE", f"due {due.isoformat()} ({item.deadline.text})"))
        expected = expected_percent(plan_start, due, today)
        if expected > 0 and item.percent < BEHIND_RATIO * expected:
            flags.append(
                RedFlag("BEHIND_SCHEDULE", f"{item.percent}% done, {expected:.0f}% expected by now")
            )
    low = [e.sha256 for e in item.evidence.values() if e.quality is Quality.LOW]
    if low:
        message = f"evidence {low[-1][:12]}… judged low quality"
        flags.append(RedFlag("LOW_QUALITY_EVIDENCE", message))
    return flags
