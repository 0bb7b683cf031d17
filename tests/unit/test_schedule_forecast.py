"""A plan's tasks projected forward on a day over their declared dependencies: each
task's planned span, its earliest start behind its upstreams, the days its share not
done still needs, its projected finish and slack, and the chain that finishes last."""

from __future__ import annotations

from datetime import date, timedelta

from domain.deadlines import parse_deadline
from domain.schedule import Forecast, critical_chain, forecast, plan_spans

START = date(2026, 1, 1)
# the three tasks, all due in 2026, each waiting on the one before
WORDING = {"survey": "Quý I/2026", "build": "Quý II/2026", "roll-out": "Năm 2026"}
CHAIN = [("survey", "build"), ("build", "roll-out")]


def projected(
    today: date,
    percent: dict[str, int] | None = None,
    closed: frozenset[str] = frozenset(),
    wording: dict[str, str | None] | None = None,
    dependencies: list[tuple[str, str]] | None = None,
) -> dict[str, Forecast]:
    deadlines = {key: parse_deadline(text) for key, text in (wording or WORDING).items()}
    edges = CHAIN if dependencies is None else dependencies
    spans = plan_spans(deadlines, edges, START, 2026)
    return forecast(spans, edges, today, percent or {}, closed)


def test_tasks_start_after_their_upstreams_are_due() -> None:
    spans = plan_spans(
        {key: parse_deadline(text) for key, text in WORDING.items()}, CHAIN, START, 2026
    )
    assert [(s.start, s.due) for s in spans.values()] == [
        (date(2026, 1, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 12, 31)),
    ]


def test_untouched_tasks_keep_their_planned_dates_before_they_start() -> None:
    plan = projected(START)
    assert [(f.start, f.finish, f.slack_days) for f in plan.values()] == [
        (date(2026, 1, 1), date(2026, 3, 31), 0),
        (date(2026, 4, 1), date(2026, 6, 30), 0),
        (date(2026, 7, 1), date(2026, 12, 31), 0),
    ]
    assert critical_chain(plan, CHAIN) == ["survey", "build", "roll-out"]


def test_three_tasks_due_in_2026_on_schedule_in_april_finish_in_2026() -> None:
    # the case: once "finish 2028-05-14, slack −500"
    today = date(2026, 4, 15)  # the survey is done; the build 14 of its 90 days in, 17%
    plan = projected(today, {"build": 17}, frozenset({"survey"}))
    assert plan["survey"] == Forecast(START, date(2026, 3, 31), 0, date(2026, 3, 31))
    # 90 days × 83% = 74.7, rounded up: 75 days after today
    assert plan["build"] == Forecast(date(2026, 4, 1), date(2026, 6, 30), 75, date(2026, 6, 29))
    assert plan["build"].slack_days == 1
    assert plan["roll-out"].finish == date(2026, 12, 31)
    assert plan["roll-out"].slack_days == 0


def test_a_late_upstream_pushes_its_downstream() -> None:
    today = date(2026, 4, 15)
    plan = projected(today, {"survey": 50})
    # the survey still needs half its 89 days, rounded up: 45 from today
    assert plan["survey"].finish == today + timedelta(days=45)
    assert plan["build"].start == today + timedelta(days=46)  # not its planned 1 April
    assert plan["build"].finish == today + timedelta(days=46 + 90)
    assert plan["build"].slack_days == (date(2026, 6, 30) - today).days - 46 - 90
    assert plan["roll-out"].start == plan["build"].finish + timedelta(days=1)


def test_slack_is_the_days_between_the_projected_finish_and_the_due_day() -> None:
    ahead = projected(date(2026, 2, 15), {"survey": 90})
    # 89 days × 10% = 8.9 → 9 days after 15 February: 24 February, 35 days before 31 March
    assert (ahead["survey"].finish, ahead["survey"].slack_days) == (date(2026, 2, 24), 35)
    behind = projected(date(2026, 6, 1), {"build": 10}, frozenset({"survey"}))
    # 90 days × 90% = 81 days after 1 June: 52 days after 30 June
    assert behind["build"].slack_days == -52


def test_a_closed_task_takes_no_days_and_holds_no_one_up() -> None:
    today = date(2026, 2, 10)  # the survey was closed early
    plan = projected(today, closed=frozenset({"survey"}))
    assert (plan["survey"].remaining_days, plan["survey"].finish) == (0, today)
    assert (plan["build"].start, plan["build"].finish) == (date(2026, 4, 1), date(2026, 6, 30))
    late = projected(date(2026, 5, 1), closed=frozenset({"survey"}))
    assert late["survey"].finish == date(2026, 3, 31)  # done, as far as its schedule goes


def test_a_plan_for_2026_read_any_day_of_2026_never_finishes_in_2028() -> None:
    day = START
    while day.year == 2026:  # nothing ever done: the worst any day can project
        assert projected(day)["roll-out"].finish.year <= 2027, day
        day += timedelta(days=1)


def test_a_task_due_with_its_upstream_finishes_with_it() -> None:
    wording = {"data": "Năm 2026", "records": "Năm 2026", "app": "Năm 2026"}
    edges = [("data", "records"), ("records", "app")]
    on_schedule = projected(date(2026, 7, 2), {"data": 50}, wording=wording, dependencies=edges)
    assert [f.finish for f in on_schedule.values()] == [date(2026, 12, 31)] * 3
    nothing_done = projected(date(2026, 12, 31), wording=wording, dependencies=edges)
    assert nothing_done["app"].finish == date(2027, 12, 30)  # a year late, not more


def test_a_body_text_duty_is_due_at_the_end_of_the_plans_year() -> None:
    plan = projected(START, wording={"survey": "Quý I/2026", "duty": None}, dependencies=[])
    assert (plan["duty"].start, plan["duty"].due) == (START, date(2026, 12, 31))


def test_recurring_duties_are_projected_on_no_chain() -> None:
    wording = {"register": "Thường xuyên", "records": "Quý II/2026", "app": "Năm 2026"}
    edges = [("register", "records"), ("records", "app")]
    plan = projected(date(2026, 3, 1), wording=wording, dependencies=edges)
    assert set(plan) == {"records", "app"}
    assert plan["records"].start == START  # the duty has no due day to wait for
    assert critical_chain(plan, edges) == ["records", "app"]
    assert critical_chain(plan, [("register", "records")]) == ["records"]


def test_the_critical_chain_follows_the_upstream_that_finishes_last() -> None:
    wording = {"data": "Quý I/2026", "form": "Quý I/2026", "records": "Quý II/2026"}
    edges = [("data", "records"), ("form", "records")]
    plan = projected(date(2026, 3, 1), {"data": 80}, wording=wording, dependencies=edges)
    assert critical_chain(plan, edges) == ["form", "records"]  # 0% done: finishes later
    assert critical_chain(plan, []) == []
