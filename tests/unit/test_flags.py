"""The plans' three red-flag rules, as pure functions of an item and a day."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.flags import expected_percent, red_flags
from domain.items import Quality
from tests.unit.given import LEAD, OFFICE, ctx, given_indicator, given_task, sha

START = dt.date(2026, 1, 1)  # the plan's schedule starts
DUE = dt.date(2026, 3, 31)  # "Quý I/2026"


def rules(item: object, today: dt.date) -> list[str]:
    return [flag.rule for flag in red_flags(item, START, today)]  # type: ignore[arg-type]


def reported(percent: int) -> object:
    task = given_task()
    task.report_progress(ctx(LEAD), percent=percent, as_of=START)
    return task


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2025, 12, 1), 0.0),
        (START, 0.0),
        (dt.date(2026, 2, 15), 50.0),
        (DUE, 100.0),
        (dt.date(2026, 5, 1), 100.0),
    ],
)
def test_the_schedule_expects_completion_linearly_from_start_to_deadline(
    today: dt.date, expected: float
) -> None:
    assert expected_percent(START, DUE, today) == pytest.approx(expected, abs=1.2)


def test_an_item_past_its_deadline_and_not_done_is_flagged() -> None:
    assert "PAST_DEADLINE" in rules(reported(90), dt.date(2026, 4, 1))
    assert "PAST_DEADLINE" not in rules(reported(90), DUE)


def test_an_item_below_half_of_its_schedule_is_flagged() -> None:
    mid_february = dt.date(2026, 2, 15)  # about 50% expected
    assert rules(reported(20), mid_february) == ["BEHIND_SCHEDULE"]
    assert rules(reported(30), mid_february) == []


def test_evidence_judged_low_quality_raises_a_flag() -> None:
    task = given_task()
    task.submit_evidence(
        ctx(LEAD), sha256=sha("scan"), uri="s3://e", media_type="application/pdf", description=""
    )
    task.reject_evidence(
        ctx(OFFICE), sha256=sha("scan"), coordinator=OFFICE, reason="mờ", quality=Quality.LOW
    )
    assert rules(task, START) == ["LOW_QUALITY_EVIDENCE"]


def test_a_completed_item_shows_no_flag_however_late() -> None:
    task = given_task()
    task.submit_evidence(
        ctx(LEAD), sha256=sha("ok"), uri="s3://e", media_type="application/pdf", description=""
    )
    task.claim_completion(ctx(LEAD), evidence=[sha("ok")])
    task.accept_evidence(ctx(OFFICE), sha256=sha("ok"), coordinator=OFFICE, quality=Quality.GOOD)
    task.confirm_completion(ctx(OFFICE), coordinator=OFFICE)
    assert rules(task, dt.date(2026, 12, 31)) == []


def test_a_recurring_task_has_no_deadline_to_miss() -> None:
    assert rules(given_task(deadline="Thường xuyên"), dt.date(2026, 12, 31)) == []


def test_indicators_are_flagged_only_for_low_quality_evidence() -> None:
    assert rules(given_indicator(), dt.date(2026, 12, 31)) == []
