"""Any interleaving of the same per-subject event sequences gives the same views."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ids import indicator_id, task_id
from domain.indicator import Indicator
from domain.items import Quality
from domain.task import Task
from projections.dependencies import DependencyView
from projections.kpi_attainment import KpiAttainmentView
from projections.red_flags import RedFlagView
from projections.scorecards import ScorecardView
from projections.task_status import TaskStatusView
from services.app.ledger import Ledger
from tests.unit.given import LEAD, MONITOR, OFFICE, PLAN, ctx, sha

APP = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
DAY = dt.date(2026, 3, 1)


def first_task() -> list[Any]:
    task = Task.assign(
        ctx(OFFICE),
        id=task_id(PLAN, "1"),
        plan=PLAN,
        key="1",
        definition={"text": "a", "lead": [LEAD], "deadline": "Quý I/2026"},
    )
    task.report_progress(ctx(LEAD), percent=30, as_of=DAY)
    task.report_progress(ctx(LEAD), percent=60, as_of=DAY)
    task.submit_evidence(
        ctx(LEAD), sha256=sha("a"), uri="s3://a", media_type="application/pdf", description=""
    )
    task.claim_completion(ctx(LEAD), evidence=[sha("a")])
    task.reject_evidence(
        ctx(OFFICE), sha256=sha("a"), coordinator=OFFICE, reason="chưa ký", quality=Quality.LOW
    )
    return list(task.collect_events())


def second_task() -> list[Any]:
    task = Task.assign(
        ctx(OFFICE),
        id=task_id(PLAN, "2"),
        plan=PLAN,
        key="2",
        definition={"text": "b", "lead": [LEAD], "deadline": "Năm 2026"},
    )
    task.report_progress(ctx(LEAD), percent=10, as_of=DAY)
    task.correct_report(ctx(LEAD), report_version=2, percent=5, reason="nhầm")
    return list(task.collect_events())


def indicator() -> list[Any]:
    definition = {
        "name": "VNeID",
        "unit": "%",
        "targets": [{"period": "2026", "value": "≥ 80%"}],
        "lead": [LEAD],
        "monitor": [MONITOR],
    }
    kpi = Indicator.define(
        ctx(OFFICE), id=indicator_id(PLAN, "7"), plan=PLAN, key="7", definition=definition
    )
    kpi.record_measurement(ctx(MONITOR), value="50", unit="%", period="2026-Q1", as_of=DAY)
    kpi.record_measurement(ctx(MONITOR), value="85", unit="%", period="2026", as_of=DAY)
    return list(kpi.collect_events())


HISTORIES = [first_task(), second_task(), indicator()]


def rows_after(order: list[int]) -> dict[str, Any]:
    """The rows of both views after the events, taken subject by subject in ``order``."""
    cursors = [0] * len(HISTORIES)
    views = [
        TaskStatusView(APP),
        KpiAttainmentView(APP),
        RedFlagView(APP),
        ScorecardView(APP),
        DependencyView(APP),
    ]
    rows: dict[str, Any] = {}
    for position, subject in enumerate(order, 1):
        event = HISTORIES[subject][cursors[subject]]
        cursors[subject] += 1
        for view in views:
            view.apply(position, event)
            rows.update({f"{view.name}:{key}": row for key, row in view.flush().items()})
    return rows


def one_order() -> list[int]:
    return [subject for subject, history in enumerate(HISTORIES) for _ in history]


@settings(max_examples=60, deadline=None)
@given(st.permutations(one_order()))
def test_any_interleaving_of_the_same_per_subject_sequences_gives_the_same_views(
    order: list[int],
) -> None:
    assert rows_after(order) == rows_after(one_order())


def test_the_views_reflect_the_histories() -> None:
    rows = rows_after(one_order())
    tasks = rows[f"task_status:{PLAN}/task/1"], rows[f"task_status:{PLAN}/task/2"]
    assert (tasks[0]["status"], tasks[1]["percent"]) == ("awaiting_completion", 5)
    assert rows[f"kpi_attainment:{PLAN}/indicator/7"]["periods"]["2026"]["standing"] == "met"
    low = rows[f"red_flags:{PLAN}/task/1"]["states"][-1]["low_quality"]
    assert low == sha("a")
