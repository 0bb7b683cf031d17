"""A scripted quarter (15 January – 15 April 2026) over the four seed plans, through
the application and the views on a real PostgreSQL: the red flags of each rule, the
blocked tasks, the bottleneck agency, the ranking and the rollups it must produce.

What happens, in the plans' own terms:
- Phước Bình (001, from 15/01): VHXH completes task 3 on time, leaves 4 at 60% and 5
  (the plan the contest I.6 depends on) at 10%; the contest I.6 moves too slowly for
  30/06. The office brings the police's monitoring centre (28) forward to Quý I/2026;
  the health post (24), the schools (26), the traffic system (27) and the smart city
  (29) wait on it; the police report 20% and stop. The service centre's evidence on
  task 8 is judged low quality. Every other dated task is reported monthly, ahead of
  its schedule.
- Đa Mai (002, from 30/01): the party cells finish IV.3 after its 29/01 deadline (one
  cell, registered here as a member, claims it: a collective acts only through its
  members); the People's Committee leaves IV.5 at 50% past 14/02 while three tasks of
  three other units wait on it; it finishes task 6 on time; VNeID is measured at 58%.

Nobody reviews its own work: the steering committees review the offices' own tasks
(Phước Bình 3, Đa Mai 6, Bình Phước III.4), and a task led by a collective is reported
by one of its members.
- Bình Phước (000): the Party office completes III.4; VNeID measured at 72%.
- Bình Long (004): the evidence on III.1.4 is judged low quality; VNeID 65% for 2025.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from domain.flags import expected_percent
from projections.dependencies import DependencyView, blocked, bottlenecks, graphs
from projections.engine.runner import ProjectionRunner, Row, View
from projections.kpi_attainment import KpiAttainmentView
from projections.red_flags import RedFlagView, item_flags
from projections.rollups import (
    by_agency,
    by_ward,
    indicators_by_code,
    read_tasks,
    reporting_summaries,
)
from projections.scorecards import ScorecardView, scorecards, tally
from projections.task_status import TaskStatusView
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.store.database import Database, ensure_database
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY

PB, DM, BP, BL = "phuoc-binh-2026", "da-mai-2026", "binh-phuoc-2026", "binh-long-2026"
TODAY = dt.date(2026, 4, 15)
PARTY_CELL = "da-mai.party-cell-1"  # one of "Các chi, đảng bộ trực thuộc"
MONTH_ENDS = (dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31))


def at(agency: str, day: dt.date) -> Actor:
    return Actor(agency, channel="test", occurred_at=dt.datetime.combine(day, dt.time(9), dt.UTC))


def evidence(letter: str, description: str) -> dict[str, str]:
    return {
        "sha256": letter * 64,
        "uri": f"s3://evidence/{letter}",
        "media_type": "application/pdf",
        "description": description,
    }


class Quarter:
    def __init__(self, app: Ledger) -> None:
        self.app = app

    def do(self, kind: str, subject: str, actor: Actor, args: dict[str, Any], *ev: Any) -> None:
        execute(self.app, kind, subject, actor, args, list(ev))

    def report(self, task: str, agency: str, day: dt.date, percent: int) -> None:
        self.do("progress_reported", task, at(agency, day), {"percent": percent, "as_of": day})

    def complete(self, task: str, lead: str, reviewer: str, day: dt.date, letter: str) -> None:
        self.do("completion_claimed", task, at(lead, day), {}, evidence(letter, "văn bản đã ký"))
        self.do("evidence_accepted", task, at(reviewer, day), {"sha256": letter * 64})
        self.do("completion_confirmed", task, at(reviewer, day), {})

    def judged_low(self, task: str, unit: str, reviewer: str, day: dt.date, letter: str) -> None:
        self.do("completion_claimed", task, at(unit, day), {}, evidence(letter, "bản chụp mờ"))
        self.do(
            "evidence_rejected", task, at(reviewer, day), {"sha256": letter * 64, "reason": "mờ"}
        )

    def depend(self, plan: str, office: str, upstream: str, downstream: str) -> None:
        args = {"upstream": upstream, "downstream": downstream, "reason": "cần sản phẩm trước"}
        self.do("dependency_declared", plan, at(office, dt.date(2026, 1, 20)), args)

    def measure(self, kpi: str, agency: str, value: str, period: str) -> None:
        day = dt.date(2026, 4, 5)
        args = {"value": value, "unit": "%", "period": period, "as_of": day}
        self.do("indicator_measured", kpi, at(agency, day), args)

    def ahead_of_schedule(self, plan: str, skip: set[str]) -> None:
        """Every other open dated task reported monthly, 10 points ahead of schedule."""
        start = self.app.plan(plan).start
        for task in self.app.tasks_of(plan):
            due = task.deadline.due
            if task.group or due is None or task.key in skip:
                continue
            for day in (d for d in MONTH_ENDS if d > start):
                percent = min(100, math.ceil(expected_percent(start, due, day)) + 10)
                self.report(f"{plan}/task/{task.key}", self.reporter(task.lead[0]), day, percent)

    def reporter(self, lead: str) -> str:
        """The lead unit, or for a collective the first of its members (a collective
        never acts in its own name)."""
        members = self.app.agency(lead).members
        return members[0] if members else lead

    def play(self) -> None:
        vhxh, police = "phuoc-binh.vhxh", "phuoc-binh.police"
        self.do(
            "deadline_changed",
            f"{PB}/task/28",
            at(vhxh, dt.date(2026, 1, 20)),
            {"deadline": "Quý I/2026", "reason": "cần trước Quý II", "document": "45/TB-UBND"},
        )
        for downstream in ("24", "26", "27", "29"):
            self.depend(PB, vhxh, "28", downstream)
        self.depend(PB, vhxh, "5", "I.6")
        for day, percent in ((dt.date(2026, 2, 1), 40), (dt.date(2026, 3, 1), 80)):
            self.report(f"{PB}/task/3", vhxh, day, percent)
        self.complete(
            f"{PB}/task/3", vhxh, "phuoc-binh.steering-committee", dt.date(2026, 3, 20), "3"
        )
        for day, percent in ((dt.date(2026, 2, 1), 30), (dt.date(2026, 3, 1), 60)):
            self.report(f"{PB}/task/4", vhxh, day, percent)
        self.report(f"{PB}/task/5", vhxh, dt.date(2026, 2, 1), 10)
        for day, percent in ((dt.date(2026, 2, 15), 20), (dt.date(2026, 3, 15), 30)):
            self.report(f"{PB}/task/I.6", vhxh, day, percent)
        self.report(f"{PB}/task/28", police, dt.date(2026, 2, 28), 20)
        self.judged_low(f"{PB}/task/8", "phuoc-binh.ttpvhcc", vhxh, dt.date(2026, 3, 12), "8")
        self.ahead_of_schedule(PB, {"3", "4", "5", "I.6", "28"})

        ubnd = "da-mai.ubnd"
        for downstream in ("4", "18.a", "18.e"):
            self.depend(DM, ubnd, "IV.5", downstream)
        self.complete(f"{DM}/task/IV.3", PARTY_CELL, ubnd, dt.date(2026, 2, 10), "a")
        self.report(f"{DM}/task/IV.5", ubnd, dt.date(2026, 2, 10), 50)
        self.complete(f"{DM}/task/6", ubnd, "da-mai.steering-committee", dt.date(2026, 3, 25), "6")
        self.ahead_of_schedule(DM, {"IV.3", "IV.5", "6"})
        self.measure(f"{DM}/indicator/E.11", ubnd, "58", "2026-Q1")

        party_office = "binh-phuoc.party-office"
        standing_board = "binh-phuoc.party-standing-board"  # the plan's steering body
        self.complete(f"{BP}/task/III.4", party_office, standing_board, dt.date(2026, 2, 20), "b")
        self.measure(f"{BP}/indicator/1.4.16", "binh-phuoc.ubnd", "72", "2026-Q1")

        self.judged_low(
            f"{BL}/task/III.1.4",
            "binh-long.vhxh",
            "binh-long.party-office",
            dt.date(2026, 3, 10),
            "c",
        )
        self.measure(f"{BL}/indicator/1.1.6", "binh-long.ubnd", "65", "2025")


def registry_with_a_party_cell(directory: Path) -> Path:
    """The registry, with one party cell registered as a member of "Các chi, đảng bộ
    trực thuộc" (the registry names none of them)."""
    registry = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    cell = {
        "id": PARTY_CELL,
        "ward": "da-mai",
        "name_vi": "Chi bộ Khu phố 1",
        "name_en": "Party cell of neighbourhood 1",
        "kind": "committee",
    }
    registry["agencies"].append(cell)
    for agency in registry["agencies"]:
        if agency["id"] == "da-mai.party-cells":
            agency["members"] = [PARTY_CELL]
    path = directory / "agencies.yaml"
    path.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def views(
    postgres: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Row]]]:
    """The views after the quarter, in a database of this module's own."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    module_app = Ledger(env=ensure_database(postgres, name).eventsourcing_env())
    try:
        registry = registry_with_a_party_cell(tmp_path_factory.mktemp("registry"))
        import_plans(module_app, PLANS, registry)
        Quarter(module_app).play()
        yield rows_of_views(module_app)
    finally:
        module_app.close()
        with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def rows_of_views(module_app: Ledger) -> dict[str, dict[str, Row]]:
    found = {}
    chosen: list[View] = [
        TaskStatusView(module_app),
        KpiAttainmentView(module_app),
        RedFlagView(module_app),
        DependencyView(module_app),
        ScorecardView(module_app),
    ]
    for view in chosen:
        runner = ProjectionRunner(module_app, view)
        runner.catch_up()
        found[view.name] = runner.rows()
    return found


def flagged(views: dict[str, dict[str, Row]], rule: str) -> set[str]:
    flags = views["red_flags"]
    return {
        name
        for name in flags
        if "/" in name and any(f.rule == rule for f in item_flags(flags, name, TODAY)[0])
    }


def test_the_quarter_raises_exactly_these_flags_of_each_rule(
    views: dict[str, dict[str, Row]],
) -> None:
    assert flagged(views, "PAST_DEADLINE") == {
        f"{PB}/task/4",
        f"{PB}/task/5",
        f"{PB}/task/28",
        f"{DM}/task/IV.5",
    }
    behind = flagged(views, "BEHIND_SCHEDULE")
    assert {name for name in behind if name.startswith((PB, DM))} == {
        f"{PB}/task/5",
        f"{PB}/task/28",
    }
    # the duties of 000's and 004's body text are due by the end of the year: at 0%
    # past their plan's first checkpoint they are behind
    body_text = views["red_flags"]
    assert all(
        body_text[name]["states"][-1]["percent"] == 0
        and not body_text[name]["states"][-1]["deadline"]["text"]
        for name in behind - {f"{PB}/task/5", f"{PB}/task/28"}
    )
    assert flagged(views, "LOW_QUALITY_EVIDENCE") == {f"{PB}/task/8", f"{BL}/task/III.1.4"}
    assert flagged(views, "LATE_FORECAST") == {f"{PB}/task/I.6"}


def test_the_flags_of_the_quarter_have_their_history(views: dict[str, dict[str, Row]]) -> None:
    flags = views["red_flags"]
    _, history = item_flags(flags, f"{DM}/task/IV.3", TODAY)
    late = next(s for s in history if s.rule == "PAST_DEADLINE")
    # due 29/01, done 10/02: raised by the day passing, cleared by the confirmation
    assert (late.raised_on, late.raised_at_event, late.cleared_on) == (
        dt.date(2026, 1, 30),
        False,
        dt.date(2026, 2, 10),
    )
    assert late.cleared_by is not None
    assert late.cleared_by.startswith(f"{DM}/task/IV.3@v")


def test_the_quarter_blocks_the_tasks_due_soon_behind_an_open_upstream(
    views: dict[str, dict[str, Row]],
) -> None:
    rows = graphs(views["dependencies"])
    assert blocked(rows[PB], TODAY, window_days=180) == [{"downstream": "I.6", "upstream": "5"}]
    assert blocked(rows[DM], TODAY, window_days=180) == [{"downstream": "4", "upstream": "IV.5"}]
    assert blocked(rows[PB], TODAY, window_days=30) == []


def test_the_police_are_the_bottleneck_of_the_quarter(views: dict[str, dict[str, Row]]) -> None:
    ranked = bottlenecks(list(graphs(views["dependencies"]).values()), TODAY)
    assert [b["agency"] for b in ranked] == ["phuoc-binh.police", "da-mai.ubnd", "phuoc-binh.vhxh"]
    assert ranked[0]["held_agencies"] == [
        "phuoc-binh.health-post",
        "phuoc-binh.ktht-dt",
        "phuoc-binh.office-hdnd-ubnd",
        "phuoc-binh.schools",
    ]
    assert len(ranked[0]["held_tasks"]) == 4


def test_the_quarter_ranks_the_agencies_and_explains_each_score(
    views: dict[str, dict[str, Row]],
) -> None:
    units, collectives = tally(views["scorecards"], views["red_flags"], TODAY)
    assert [card["agency"] for card in units] == RANKING
    assert units == scorecards(views["scorecards"], views["red_flags"], TODAY)
    by_name = {card["agency"]: card for card in units}
    police = by_name["phuoc-binh.police"]
    # 28 was due 31/03 and is not done; of the 12 reports due (Jan, Feb, Mar for 27,
    # 28, 29 and its indicator), 7 came (28 only in February, 27 and 29 every month,
    # the indicator never); 28 (late) and the indicator (its reports owed) carry flags
    assert {part: (v["count"], v["of"]) for part, v in police["parts"].items()} == {
        "on_time": (0, 1),
        "acceptance": (0, 0),
        "timeliness": (7, 12),
        "unflagged": (2, 4),
    }
    assert (police["tasks"], police["indicators"]) == (3, 1)
    # nothing judged: acceptance is left out and the other weights count in proportion
    assert police["score"] == round(100 * (0.4 * 0 + 0.2 * 7 / 12 + 0.2 * 2 / 4) / 0.8, 1)
    # collectives are shown apart: IV.3 of Đa Mai counts for the cell that did it
    assert [card["agency"] for card in collectives] == COLLECTIVES
    cells = next(card for card in collectives if card["agency"] == "da-mai.party-cells")
    assert cells["parts"] == by_name["da-mai.party-cell-1"]["parts"]


RANKING = [
    # every report in, nothing due yet, no flag
    "da-mai.mttq",
    "da-mai.party-office",
    "phuoc-binh.kindergarten",  # reports the schools' task 26: a member of the collective
    "phuoc-binh.ktht-dt",
    # III.4 done on time, but no report of Bình Phước's first quarter
    "binh-phuoc.party-office",
    "da-mai.party-building",
    "phuoc-binh.vhxh",
    "da-mai.ubnd",
    # IV.3 finished after its deadline, by the cell that claimed it for the collective
    "da-mai.party-cell-1",
    "da-mai.steering-committee",
    # task 24 reported every month, its two KPIs (7, 11) never measured
    "phuoc-binh.health-post",
    # the bottleneck's own task is late and flagged
    "phuoc-binh.police",
    "phuoc-binh.office-hdnd-ubnd",
    # evidence rejected as low quality: task 8 is in "Chờ hoàn thiện" and counts 0
    "phuoc-binh.ttpvhcc",
    "binh-phuoc.ubnd",
    # silent units: no report, every item owes its reports (REPORT_MISSING)
    "binh-long.mttq",
    "binh-long.party-building",
    "binh-long.party-office",
    "binh-long.ttdvth",
    "binh-long.ubnd",
    "binh-long.vhxh",
    "binh-phuoc.hdnd",
    "binh-phuoc.mttq",
    "binh-phuoc.party-building",
    "da-mai.vhxh",
]
COLLECTIVES = [
    "binh-long.all-agencies",
    "binh-phuoc.all-agencies",
    "binh-phuoc.party-advisory-bodies",
    "binh-phuoc.party-cells",
    "da-mai.party-cells",
    "phuoc-binh.all-agencies",
    "phuoc-binh.citizens-enterprises",
    "phuoc-binh.related-units",
    "phuoc-binh.schools",
    "phuoc-binh.telecoms",
    "phuoc-binh.tthc-agencies",
]


def test_the_quarter_rolls_up_per_ward_agency_and_indicator_code(
    views: dict[str, dict[str, Row]],
) -> None:
    readings = read_tasks(views["task_status"], views["red_flags"], TODAY)
    wards = by_ward(readings, views["red_flags"])
    assert set(wards) == {"phuoc-binh", "da-mai", "binh-phuoc", "binh-long"}
    assert wards["phuoc-binh"]["flags"] == {
        "BEHIND_SCHEDULE": 2,
        "LATE_FORECAST": 1,
        "LOW_QUALITY_EVIDENCE": 1,
        "PAST_DEADLINE": 3,
        "REPORT_MISSING": 47,  # a flag per task and month not reported by its due day
    }
    assert wards["da-mai"]["completed"] == 2
    assert by_agency(readings)["phuoc-binh.police"]["flagged_tasks"] == 1
    vneid = indicators_by_code(views["kpi_attainment"], views["red_flags"], "2026")["VNEID"]
    assert (vneid["wards"], vneid["reporting"], vneid["met"], vneid["min"], vneid["max"]) == (
        2,
        2,
        0,
        "58",
        "72",
    )


def test_the_quarter_is_summarised_per_reporting_period_of_each_plan(
    views: dict[str, dict[str, Row]],
) -> None:
    phuoc_binh = reporting_summaries(views["red_flags"], PB, 2026, TODAY)
    assert set(phuoc_binh) == {"monthly", "quarterly", "yearly"}  # its reporting regime
    q1, q2 = phuoc_binh["quarterly"]
    assert (q1["period"], q1["complete"], q2["period"], q2["complete"]) == (
        "2026-Q1",
        True,
        "2026-Q2",
        False,
    )
    assert q1["completed_in_period"] == 1  # task 3
    assert q1["flags_raised"]["LOW_QUALITY_EVIDENCE"] == 1  # task 8, 12/03
    assert q2["flags_raised"]["PAST_DEADLINE"] == 3  # 4, 5 and 28 on 01/04
    assert [m["period"] for m in phuoc_binh["monthly"]] == [
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
    ]
    assert set(reporting_summaries(views["red_flags"], DM, 2026, TODAY)) == {
        "quarterly",
        "half_yearly",
        "yearly",
    }
