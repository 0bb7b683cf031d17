"""The red-flag rules over the four seed plans, as the coordination office reads them
from the views: nothing judged on the schedule before a plan's first reporting
checkpoint, the reports owed after it (đôn đốc), the duties of the body text of
Bình Phước (000) and Bình Long (004) and the KPIs judged like any other item.

What happens: only Phước Bình's (001) health post acts — it reports task 24 at the
end of January, February and March (each the next morning), measures KPI 7 at 92%
(target "≥ 90") and KPI 11 at 20% (target "≥ 90") each month. Nobody else reports.
The coordination office declares that task I.6 (Quý II) waits on task 3 (Quý I);
on 1 April, the day I.6's planned span starts, its lead (VHXH) reports it at 0%.
"""

from __future__ import annotations

import datetime as dt

import pytest

from domain.reporting import first_checkpoint
from projections.engine.rows import Views
from projections.red_flags import missing_reports, raised_flags
from projections.views import VIEWS, caught_up
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY

PB, BP, BL = "phuoc-binh-2026", "binh-phuoc-2026", "binh-long-2026"
HEALTH_POST = "phuoc-binh.health-post"
MONTH_ENDS = (dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31))
SCHEDULE_RULES = {"BEHIND_SCHEDULE", "LATE_FORECAST"}
YEAR_AFTER = dt.date(2027, 1, 15)


def morning_after(day: dt.date) -> Actor:
    sent = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(2), dt.UTC)  # 09:00 ICT
    return Actor(HEALTH_POST, channel="test", occurred_at=sent)


@pytest.fixture
def views(app: Ledger) -> Views:
    import_plans(app, PLANS, REGISTRY)
    office = Actor(app.plan(PB).coordinator, channel="test")
    chain = {"upstream": "3", "downstream": "I.6", "reason": "cần kết quả trước"}
    execute(app, "dependency_declared", PB, office, chain)
    april = dt.datetime.combine(dt.date(2026, 4, 1), dt.time(2), dt.UTC)
    started = {"percent": 0, "as_of": dt.date(2026, 4, 1)}
    vhxh = Actor("phuoc-binh.vhxh", channel="test", occurred_at=april)
    execute(app, "progress_reported", f"{PB}/task/I.6", vhxh, started)
    for day in MONTH_ENDS:
        report = {"percent": 10 * day.month, "as_of": day}
        execute(app, "progress_reported", f"{PB}/task/24", morning_after(day), report)
        for kpi, value in (("7", "92"), ("11", "20")):
            args = {"value": value, "unit": "%", "period": day.strftime("%Y-%m"), "as_of": day}
            execute(app, "indicator_measured", f"{PB}/indicator/{kpi}", morning_after(day), args)
    return caught_up(app, VIEWS)


def items_of(views: Views, plan: str, kind: str = "") -> list[str]:
    return sorted(
        name
        for name, row in views["red_flags"].items()
        if "/" in name and row["plan"] == plan and not row["group"] and kind in name
    )


def rules_on(views: Views, names: list[str], day: dt.date) -> set[tuple[str, str]]:
    return {(name, s.rule) for name, _, s in raised_flags(views, names, day, include_cleared=False)}


def test_nothing_is_judged_on_001s_schedule_until_its_first_monthly_report_was_due(
    views: Views,
) -> None:
    checkpoint = first_checkpoint(dt.date(2026, 1, 15), ["monthly", "quarterly", "yearly"])
    assert checkpoint == dt.date(2026, 2, 7)
    names = items_of(views, PB)
    early = [
        (name, span.rule)
        for name, _, span in raised_flags(views, names, checkpoint, include_cleared=True)
        if span.rule in SCHEDULE_RULES
    ]
    assert early == []
    after = checkpoint + dt.timedelta(days=1)
    up = raised_flags(views, names, after, include_cleared=False)
    owed = {
        (name, span.raised_on, span.raised_at_event)
        for name, _, span in up
        if span.rule == "REPORT_MISSING"
    }
    assert owed  # the silent items owe January's report the day after, raised by the day passing
    assert {(on, at_event) for _, on, at_event in owed} == {(after, False)}
    # and are not judged behind on a 0% nobody reported
    assert not [name for name, _, span in up if span.rule == "BEHIND_SCHEDULE"]


def test_after_the_checkpoint_001s_silent_units_owe_januarys_report_and_the_health_post_not(
    views: Views,
) -> None:
    owed = missing_reports(views, dt.date(2026, 2, 8), plans={PB})
    assert {entry["period"] for entry in owed} == {"2026-01"}
    assert {entry["due"] for entry in owed} == {"2026-02-07"}
    tasks = {entry["item"] for entry in owed if "/task/" in entry["item"]}
    # I.6 owes nothing yet: its planned span starts after task 3's due day (31 March)
    assert tasks == set(items_of(views, PB, "/task/")) - {f"{PB}/task/24", f"{PB}/task/I.6"}
    for entry in owed:
        assert entry["units"] == views["red_flags"][entry["item"]]["lead"]
    assert not any(HEALTH_POST in entry["units"] for entry in owed)
    # the flag says the same, per item and period, and names the units owing
    flags = raised_flags(views, [f"{PB}/task/3"], dt.date(2026, 2, 8), include_cleared=False)
    [missing] = [span for _, _, span in flags if span.rule == "REPORT_MISSING"]
    assert (missing.period, missing.units, missing.raised_on) == (
        "2026-01",
        ("phuoc-binh.vhxh",),
        dt.date(2026, 2, 8),
    )
    assert missing.message == "Chưa báo cáo tháng 1 năm 2026 (hạn 07/02/2026): phuoc-binh.vhxh"


@pytest.mark.parametrize("plan", [BP, BL])
def test_000_and_004_are_flagged_like_any_plan_when_nothing_was_reported(
    views: Views, plan: str
) -> None:
    tasks = items_of(views, plan, "/task/")
    rules = rules_on(views, tasks, YEAR_AFTER)
    assert tasks
    assert {name for name, rule in rules if rule == "REPORT_MISSING"} == set(tasks)
    # the duties of the body text are due by the end of the plan's year
    dated = [
        name
        for name in tasks
        if not (views["red_flags"][name]["states"][-1]["deadline"]["recurrence"])
    ]
    assert dated
    assert {(name, "PAST_DEADLINE") for name in dated} <= rules
    kpis = items_of(views, plan, "/indicator/")
    assert {(name, "KPI_MISSED") for name in kpis} <= rules_on(views, kpis, YEAR_AFTER)


def test_a_kpi_measured_far_below_its_trajectory_is_off_track_and_one_above_is_not(
    views: Views,
) -> None:
    on_track, off_track = f"{PB}/indicator/7", f"{PB}/indicator/11"
    july = dt.date(2026, 7, 1)
    kpi_rules = {"KPI_OFF_TRACK", "KPI_MISSED"}
    assert {rule for _, rule in rules_on(views, [on_track], july)} & kpi_rules == set()
    flags = raised_flags(views, [off_track], july, include_cleared=True)
    [off] = [span for _, _, span in flags if span.rule == "KPI_OFF_TRACK"]
    # 20 against "≥ 90" is 22% of the target: below half the trajectory from the plan's
    # start (15 January) to the milestone (31 December) after 156 of its 350 days
    assert (off.period, off.raised_on, off.cleared_on) == ("2026", dt.date(2026, 6, 20), None)
    assert off.message == (
        "Chệch hướng: số đo 20 so với chỉ tiêu ≥ 90 năm 2026: đạt 22% chỉ tiêu, "
        "cần ít nhất 24% vào ngày 01/07/2026"
    )
    after = rules_on(views, [on_track, off_track], YEAR_AFTER)
    assert (off_track, "KPI_MISSED") in after
    assert (on_track, "KPI_MISSED") not in after


def test_a_task_waiting_on_an_upstream_is_expected_from_the_day_after_its_due_day(
    views: Views,
) -> None:
    # task I.6 is planned over 1 April – 30 June, after task 3 (due 31 March): reported
    # at 0% on 1 April, it is behind from the second day of its span, not from 8 February
    flags = raised_flags(views, [f"{PB}/task/I.6"], dt.date(2026, 4, 30), include_cleared=True)
    [behind] = [span for _, _, span in flags if span.rule == "BEHIND_SCHEDULE"]
    assert (behind.raised_on, behind.message) == (
        dt.date(2026, 4, 2),
        "Chậm tiến độ: đạt 0%, cần 32,2% vào ngày 30/04/2026",  # 29 of 90 days
    )
