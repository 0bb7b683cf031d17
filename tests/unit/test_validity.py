"""The day a fact is about (domain/validity.py): what a read as of a day leaves out."""

from __future__ import annotations

import datetime as dt

from domain.context import Context
from domain.items import ObstacleKind, Quality
from domain.validity import ValidDays
from tests.unit.given import (
    HELPER,
    LEAD,
    OFFICE,
    ctx,
    given_indicator,
    given_plan,
    given_task,
    new_events,
    sha,
)

DOC = sha("biên bản")


def days_of(events: list[object]) -> list[dt.date | None]:
    valid = ValidDays()
    return [valid.day_of(event) for event in events]


def test_a_report_is_about_its_own_as_of_day_whenever_it_was_made() -> None:
    task = given_task()
    task.report_progress(ctx(LEAD, day="2026-02-01"), percent=60, as_of=dt.date(2026, 11, 1))
    task.report_contribution(ctx(HELPER), percent=20, as_of=dt.date(2026, 1, 20))
    assert days_of(new_events(task)) == [dt.date(2026, 11, 1), dt.date(2026, 1, 20)]


def test_a_correction_is_about_the_day_of_the_report_it_corrects() -> None:
    task = given_task()
    task.report_progress(ctx(LEAD), percent=40, as_of=dt.date(2026, 1, 31))
    task.report_progress(ctx(LEAD), percent=60, as_of=dt.date(2026, 3, 31))
    task.correct_report(ctx(LEAD, day="2026-05-02"), report_version=2, percent=30, reason="sai")
    indicator = given_indicator()
    indicator.record_measurement(
        ctx(LEAD), value="70", unit="%", period="2026-01", as_of=dt.date(2026, 1, 31)
    )
    indicator.correct_measurement(
        ctx(LEAD, day="2026-06-01"), measurement_version=2, value="65", unit="%", reason="sai"
    )
    assert days_of(new_events(task) + new_events(indicator)) == [
        dt.date(2026, 1, 31),
        dt.date(2026, 3, 31),
        dt.date(2026, 1, 31),
        dt.date(2026, 1, 31),
        dt.date(2026, 1, 31),
    ]


def test_other_facts_on_an_item_are_about_the_wards_day_they_occurred() -> None:
    task = given_task()
    evening = dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC)  # 2 March in the ward
    late = Context(LEAD, evening, evening + dt.timedelta(minutes=1), "test", "m-1")
    task.submit_evidence(
        late, sha256=DOC, uri="s3://e/1.pdf", media_type="application/pdf", description=""
    )
    task.raise_obstacle(
        ctx(HELPER, day="2026-03-05"),
        obstacle_id="o1",
        kind=ObstacleKind.DIFFICULTY,
        description="thiếu máy",
    )
    task.change_deadline(
        ctx(OFFICE, day="2026-03-06"),
        coordinator=OFFICE,
        deadline="Quý II/2026",
        reason="chờ tỉnh",
        document="CV 45",
    )
    assert days_of(new_events(task)) == [
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 5),
        dt.date(2026, 3, 6),
    ]


def test_an_answer_is_never_about_a_day_before_what_it_answers() -> None:
    task = given_task()
    task.submit_evidence(
        ctx(LEAD, day="2026-04-10"),
        sha256=DOC,
        uri="s3://e/1.pdf",
        media_type="application/pdf",
        description="",
    )
    task.claim_completion(ctx(LEAD, day="2026-04-01"), evidence=[DOC])  # declared earlier
    task.accept_evidence(
        ctx(OFFICE, day="2026-04-02"), sha256=DOC, coordinator=OFFICE, quality=Quality.GOOD
    )
    task.confirm_completion(ctx(OFFICE, day="2026-04-03"), coordinator=OFFICE)
    task.raise_obstacle(
        ctx(HELPER, day="2026-05-09"),
        obstacle_id="o1",
        kind=ObstacleKind.DIFFICULTY,
        description="d",
    )
    task.resolve_obstacle(
        ctx(OFFICE, day="2026-05-01"), obstacle_id="o1", coordinator=OFFICE, resolution="r"
    )
    assert days_of(new_events(task)) == [dt.date(2026, 4, 10)] * 4 + [dt.date(2026, 5, 9)] * 2


def test_definitions_are_about_no_day_in_particular() -> None:
    plan = given_plan()
    task = given_task()
    task.amend(
        ctx(OFFICE), coordinator=OFFICE, changes={"text": "Mới"}, reason="r", document="QĐ 1"
    )
    assert days_of([*plan.collect_events(), *new_events(task)]) == [None]


def test_a_read_as_of_a_day_leaves_out_only_facts_about_later_days() -> None:
    task = given_task()
    task.report_progress(ctx(LEAD), percent=30, as_of=dt.date(2026, 6, 30))
    task.report_progress(ctx(LEAD), percent=60, as_of=dt.date(2026, 7, 1))
    valid = ValidDays()
    assert [valid.after(e, dt.date(2026, 6, 30)) for e in new_events(task)] == [False, True]
