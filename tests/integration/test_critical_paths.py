"""The critical path of each seed plan, on real schedules: a chain declared across the
plan's year (one dated task per due day, then two more due on the last day) ends
within the plan's year with no slack lost while nothing is late."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from domain.ids import task_ref
from projections.dependencies import critical_path, graphs, spans_of
from projections.engine.rows import Views
from projections.views import caught_up
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY

VIEWS = ("plans", "dependencies")


def chain_of(row: dict[str, Any]) -> list[str]:
    """One task per due day from the plan's start on (earliest first, the first key
    of each day), then two more due on the last of those days, if any."""
    start, by_due = dt.date.fromisoformat(row["start"]), {}
    for key, span in sorted(spans_of(row).items()):
        if span.due is not None and span.due >= start:
            by_due.setdefault(span.due, []).append(key)
    days = sorted(by_due)
    return [by_due[day][0] for day in days] + by_due[days[-1]][1:3]


@pytest.fixture
def chained(app: Ledger) -> tuple[Ledger, dict[str, list[str]]]:
    """The seed plans, each with a chain of dependencies its coordinator declared."""
    import_plans(app, PLANS, REGISTRY)
    views = caught_up(app, VIEWS)
    chains = {}
    for plan, row in graphs(views["dependencies"]).items():
        chain = chains[plan] = chain_of(row)
        office = Actor(views["plans"][plan]["header"]["coordinator"], channel="test")
        for upstream, downstream in itertools.pairwise(chain):
            args = {"upstream": upstream, "downstream": downstream, "reason": "nối tiếp"}
            execute(app, "dependency_declared", plan, office, args)
    return app, chains


def paths(views: Views, day_of: dict[str, dt.date]) -> dict[str, dict[str, Any]]:
    rows = graphs(views["dependencies"])
    return {plan: critical_path(rows[plan], day) for plan, day in day_of.items()}


def test_every_seed_plan_finishes_its_chain_on_its_last_due_day_from_its_start(
    chained: tuple[Ledger, dict[str, list[str]]],
) -> None:
    app, chains = chained
    views = caught_up(app, VIEWS)
    starts = {plan: dt.date.fromisoformat(row["start"]) for plan, row in views["plans"].items()}
    assert len(starts) == len(PLANS)
    for plan, path in paths(views, starts).items():
        year = views["plans"][plan]["header"]["year"]
        assert len(chains[plan]) > 2, plan
        assert path["tasks"] == chains[plan]
        assert path["finish"] == path["due"] == path["schedule"][-1]["due"], plan
        assert dt.date.fromisoformat(path["finish"]).year == year, plan
        assert [s["slack_days"] for s in path["schedule"]] == [0] * len(chains[plan]), plan


def test_a_seed_plan_on_schedule_mid_task_keeps_its_chain_within_its_year(
    chained: tuple[Ledger, dict[str, list[str]]],
) -> None:
    app, chains = chained
    views = caught_up(app, VIEWS)
    rows = graphs(views["dependencies"])
    days = {}
    for plan, chain in chains.items():
        # halfway through the first task of the chain, reported exactly on its pace
        first = critical_path(rows[plan], dt.date.fromisoformat(rows[plan]["start"]))
        start, due = (dt.date.fromisoformat(first["schedule"][0][k]) for k in ("start", "due"))
        day = days[plan] = start + (due - start) / 2
        lead = rows[plan]["tasks"][chain[0]]["lead"][0]
        reporter = (app.agency(lead).members or (lead,))[0]  # a collective acts by a member
        percent = -(-100 * (day - start).days // max((due - start).days, 1))
        args = {"percent": percent, "as_of": day}
        execute(
            app,
            "progress_reported",
            task_ref(plan, chain[0]),
            Actor(reporter, channel="test"),
            args,
        )
    for plan, path in paths(caught_up(app, VIEWS), days).items():
        year = views["plans"][plan]["header"]["year"]
        assert path["tasks"] == chains[plan]
        assert path["slack_days"] >= 0, plan
        assert dt.date.fromisoformat(path["finish"]).year == year, plan
        assert all(s["slack_days"] >= 0 for s in path["schedule"]), plan
