"""What a correction replaced, from one subject's audit records alone
(projections.corrections), and when a record is late (domain.timing.lateness)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from domain.clock import WARD_TIME
from domain.timing import lateness
from projections.corrections import corrections

SUBJECT = "phuoc-binh-2026/task/9"
positions = itertools.count(100)


def record(topic: str, version: int, **body: Any) -> dict[str, Any]:
    return {
        "position": next(positions),
        "subject": SUBJECT,
        "topic": f"lienthong.{topic}",
        "version": version,
        "actor": "phuoc-binh.police",
        "person": None,
        "occurred_at": "2026-07-02T01:00:00+00:00",
        "recorded_at": "2026-07-02T01:00:00+00:00",
        "body": body,
    }


def changes(found: dict[str, Any]) -> list[tuple[str, str, str]]:
    return found["changes"]


def test_a_report_corrected_twice_replaced_first_what_was_reported_then_the_first_correction() -> (
    None
):
    history = [
        record("task.Assigned", 1, plan="p", key="9", definition={"deadline": "Quý II/2026"}),
        record("task.ProgressReported", 2, percent=20, as_of="2026-06-28", note=""),
        record("task.ProgressReported", 3, percent=40, as_of="2026-06-30", note=""),
        record("task.ReportCorrected", 4, report_version=2, percent=25, reason="nhầm", note="x"),
        record("task.ReportCorrected", 5, report_version=2, percent=15, reason="lại nhầm", note=""),
        record("task.ReportCorrected", 6, report_version=3, percent=35, reason="bớt", note=""),
    ]
    found = corrections(history)
    assert [changes(c) for c in found] == [
        [("percent", "20", "25")],
        [("percent", "25", "15")],
        [("percent", "40", "35")],
    ]
    assert [(c["corrects_version"], c["as_of"]) for c in found] == [
        (2, "2026-06-28"),
        (2, "2026-06-28"),
        (3, "2026-06-30"),
    ]
    assert (found[1]["reason"], found[1]["position"]) == ("lại nhầm", history[4]["position"])


def test_a_corrected_measurement_names_its_period_and_the_value_it_replaced() -> None:
    history = [
        record("indicator.Measured", 2, value="12", unit="%", period="2026-Q2", as_of="2026-06-30"),
        record("indicator.Measured", 3, value="14", unit="%", period="2026-Q3", as_of="2026-09-30"),
        record(
            "indicator.MeasurementCorrected",
            4,
            measurement_version=2,
            value="11.5",
            unit="%",
            reason="số liệu mới",
        ),
    ]
    [found] = corrections(history)
    assert changes(found) == [("value", "12", "11.5")]  # the unit did not change
    assert (found["corrects_version"], found["period"]) == (2, "2026-Q2")


def test_deadline_changes_and_amendments_replace_the_definition_as_it_then_stood() -> None:
    history = [
        record(
            "task.Assigned", 1, plan="p", key="9", definition={"deadline": "Quý II/2026", "a": 1}
        ),
        record("task.DeadlineChanged", 2, deadline="Quý III/2026", reason="r", document="CV 1"),
        record(
            "task.Amended",
            3,
            changes={"deadline": "Quý IV/2026", "a": 1},
            reason="r2",
            document="QĐ 2",
        ),
        record("task.DeadlineChanged", 4, deadline="Tháng 12/2026", reason="r3", document="CV 3"),
    ]
    found = corrections(history)
    assert [changes(c) for c in found] == [
        [("deadline", "Quý II/2026", "Quý III/2026")],
        [("deadline", "Quý III/2026", "Quý IV/2026")],  # the unchanged field is not listed
        [("deadline", "Quý IV/2026", "Tháng 12/2026")],
    ]
    assert [c["document"] for c in found] == ["CV 1", "QĐ 2", "CV 3"]


def test_a_plan_amendment_lists_the_header_fields_and_items_it_changed() -> None:
    history = [
        record(
            "plan.Issued",
            1,
            key="p",
            header={"title": "A", "ward": "w"},
            tasks=["1"],
            indicators=[],
        ),
        record(
            "plan.Amended",
            2,
            changes={"title": "B"},
            tasks=["1", "2"],
            indicators=[],
            reason="r",
            document="QĐ",
        ),
    ]
    [found] = corrections(history)
    assert changes(found) == [("tasks", '["1"]', '["1", "2"]'), ("title", "A", "B")]


def test_a_report_is_late_a_week_after_its_as_of_day_ends_whatever_it_says_it_occurred() -> None:
    day_ends = dt.datetime(2026, 7, 1, tzinfo=WARD_TIME)
    recorded = day_ends + dt.timedelta(days=7, seconds=1)
    occurred = recorded - dt.timedelta(hours=1)
    assert lateness(occurred, recorded, dt.date(2026, 6, 30)) == (7 * 86400 + 1, True)
    assert lateness(occurred, recorded - dt.timedelta(seconds=2), dt.date(2026, 6, 30))[1] is False
    long_ago = recorded - dt.timedelta(days=8)
    assert lateness(long_ago, recorded, dt.date(2026, 6, 30)) == (8 * 86400, True)


def test_a_record_that_is_no_report_has_a_delay_but_is_never_late() -> None:
    recorded = dt.datetime(2026, 6, 20, tzinfo=dt.UTC)
    assert lateness(recorded - dt.timedelta(days=150), recorded, None) == (150 * 86400, False)
