"""A scripted decade (2025–2035) over the Party committee's plan 2025–2045
(tests/fixtures/plans/), judged as the coordination office reads it: each milestone
on its own, on its own due day.

What happens (each on its day, the store's clock moved to it):
- 1.1 (≥ 40% in 2025, ≥ 70% in 2030, … 100% in 2045): 30 measured in November 2025
  — the 2025 milestone is missed; 45 in June 2027 — far behind the way from 40 to
  70; 72 in June 2029 — on track again, and the 2030 milestone met.
- 1.3 (a commitment "X" for 2025 and for 2030): evidence submitted in December 2025
  and accepted — the 2025 commitment met; nothing for 2030 — missed.
- 1.4 ("100% & > 50%" in 2025, "100% & > 80%" in 2030): "100 & 40" in October 2025
  — missed on its second part; "100 & 85" in June 2030 — met.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from domain.flags import FlagSpan
from projections.engine.rows import Views
from projections.red_flags import raised_flags
from projections.scorecards import ranking
from projections.views import VIEWS, caught_up
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.store.database import Database, ensure_database
from tests.commands import RefusedError, execute
from tests.conftest import REGISTRY, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "plans" / "binh-phuoc-2025-2045.yaml"
PLAN = "binh-phuoc-2025-2045"
UBND, BUILDING = "binh-phuoc.ubnd", "binh-phuoc.party-building"
OFFICE, BOARD = "binh-phuoc.party-office", "binh-phuoc.party-standing-board"
SIGNATURE, ARCHIVE, ONLINE = (f"{PLAN}/indicator/{n}" for n in ("1.1", "1.3", "1.4"))
END = dt.date(2035, 6, 30)
DOC = "ab" * 32
EVIDENCE = {
    "sha256": DOC,
    "uri": "https://binhphuoc.dongnai.gov.vn/so-hoa-ho-so-2025.pdf",
    "media_type": "application/pdf",
    "description": "Biên bản nghiệm thu số hóa hồ sơ lưu trữ năm 2025",
}


class Clock:
    """The store's clock, moved by the script to the day of each action."""

    def __init__(self) -> None:
        self.now = dt.datetime(2025, 1, 2, 10, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def to(self, day: dt.date) -> Actor:
        self.now = dt.datetime.combine(day, dt.time(10), dt.UTC)
        return Actor(UBND, channel="test", occurred_at=dt.datetime.combine(day, dt.time(9), dt.UTC))


@dataclass(frozen=True)
class Played:
    app: Ledger
    views: Views


def as_(agency: str, actor: Actor) -> Actor:
    return Actor(agency, channel="test", occurred_at=actor.occurred_at)


def play(app: Ledger, clock: Clock) -> None:
    def measure(subject: str, day: dt.date, value: str) -> None:
        args = {"value": value, "unit": "%", "period": day.strftime("%Y-%m"), "as_of": day}
        execute(app, "indicator_measured", subject, clock.to(day), args)

    measure(SIGNATURE, dt.date(2025, 11, 30), "30")
    measure(ONLINE, dt.date(2025, 10, 31), "100 & 40")
    submitted = as_(BUILDING, clock.to(dt.date(2025, 12, 10)))
    execute(app, "evidence_submitted", ARCHIVE, submitted, {}, [EVIDENCE])
    reviewer = as_(OFFICE, clock.to(dt.date(2025, 12, 15)))
    execute(app, "evidence_accepted", ARCHIVE, reviewer, {"sha256": DOC})
    measure(SIGNATURE, dt.date(2027, 6, 30), "45")
    measure(SIGNATURE, dt.date(2029, 6, 30), "72")
    measure(ONLINE, dt.date(2030, 6, 30), "100 & 85")
    clock.to(END)


@pytest.fixture(scope="module")
def decade(postgres: Database) -> Iterator[Played]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    clock = Clock()
    app = Ledger(env=ensure_database(postgres, name).eventsourcing_env(), clock=clock)
    try:
        import_plans(app, [FIXTURE], REGISTRY)
        play(app, clock)
        yield Played(app, caught_up(app, VIEWS))
    finally:
        app.close()
        with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def kpi_flags(views: Views, name: str, day: dt.date, rule: str) -> list[FlagSpan]:
    found = raised_flags(views, [name], day, include_cleared=True)
    return [span for _, _, span in found if span.rule == rule]


def test_a_missed_early_milestone_is_flagged_when_its_due_day_passes(decade: Played) -> None:
    before = kpi_flags(decade.views, SIGNATURE, dt.date(2025, 12, 31), "KPI_MISSED")
    assert before == []
    [missed] = kpi_flags(decade.views, SIGNATURE, END, "KPI_MISSED")
    assert (missed.period, missed.raised_on, missed.cleared_on) == (
        "2025",
        dt.date(2026, 1, 1),
        None,
    )
    assert missed.version == 2
    assert missed.flag.message == "Chỉ tiêu năm 2025 “≥ 40%” chưa đạt: số đo mới nhất 30"


def test_later_milestones_are_not_judged_before_their_own_due_day(decade: Played) -> None:
    periods = {s.period for s in kpi_flags(decade.views, SIGNATURE, END, "KPI_MISSED")}
    assert periods == {"2025"}  # 2030 was met; 2035 … 2045 are not yet due
    row = decade.views["kpi_attainment"][SIGNATURE]["periods"]
    assert {p: row[p]["standing"] for p in ("2025", "2030")} == {
        "2025": "off_track",
        "2030": "met",
    }


def test_between_milestones_the_trajectory_from_the_previous_one_is_expected(
    decade: Played,
) -> None:
    spans = kpi_flags(decade.views, SIGNATURE, END, "KPI_OFF_TRACK")
    assert {s.version for s in spans} == {2}
    assert [(s.period, s.raised_on, s.cleared_on) for s in spans] == [
        # 30, below 2025's 40, is behind the way to 2030 from the day 2025 ended …
        ("2030", dt.date(2026, 1, 1), dt.date(2027, 6, 30)),
        # … 45 has made a sixth of the way from 40 to 70: behind from September 2027 …
        ("2030", dt.date(2027, 9, 1), dt.date(2029, 6, 30)),
        # … 72 meets 2030; not measured since, it falls behind the way from 70 to 80
        ("2035", dt.date(2032, 12, 31), None),
    ]
    on_the_way = kpi_flags(decade.views, SIGNATURE, dt.date(2028, 1, 1), "KPI_OFF_TRACK")
    assert "17% chặng đường từ 40" in on_the_way[-1].flag.message


def test_a_qualitative_commitment_is_met_by_accepted_evidence(decade: Played) -> None:
    missed = kpi_flags(decade.views, ARCHIVE, END, "KPI_MISSED")
    assert [(s.period, s.raised_on) for s in missed] == [("2030", dt.date(2031, 1, 1))]
    row = decade.views["kpi_attainment"][ARCHIVE]["periods"]
    assert {p: v["standing"] for p, v in row.items()} == {
        "2025": "met",
        "2030": "awaiting_review",
    }


def test_a_compound_target_is_judged_per_part(decade: Played) -> None:
    missed = kpi_flags(decade.views, ONLINE, END, "KPI_MISSED")
    assert [(s.period, s.raised_on) for s in missed] == [("2025", dt.date(2026, 1, 1))]
    assert missed[0].flag.message.endswith("phần chưa đạt: > 50% (đo được 40)")
    row = decade.views["kpi_attainment"][ONLINE]["periods"]
    assert [(p["target"], p["standing"]) for p in row["2025"]["parts"]] == [
        ("100%", "met"),
        ("> 50%", "at_risk"),  # 40 is 80% of the way: not met
    ]
    assert row["2030"]["standing"] == "met"


def test_evidence_is_the_report_of_a_qualitative_commitment(decade: Played) -> None:
    missing = kpi_flags(decade.views, ARCHIVE, dt.date(2026, 1, 10), "REPORT_MISSING")
    periods = {s.period: s for s in missing}
    # nothing came in the first half of 2025; the evidence submitted on 10 December
    # 2025 is the report of the second half
    assert (periods["2025-H1"].raised_on, periods["2025-H1"].cleared_on) == (
        dt.date(2025, 7, 8),
        None,
    )
    assert "2025-H2" not in periods


def test_a_qualitative_commitment_is_not_measured(decade: Played) -> None:
    args = {"value": "1", "unit": "%", "period": "2035-06", "as_of": END}
    with pytest.raises(RefusedError) as refused:
        execute(decade.app, "indicator_measured", ARCHIVE, as_(BUILDING, Clock().to(END)), args)
    assert refused.value.code == "INDICATOR_NOT_MEASURED"


def test_the_scorecard_counts_the_commitment_met_by_evidence_as_a_milestone_on_time(
    decade: Played,
) -> None:
    [building] = [c for c in ranking(decade.views, {PLAN}, END) if c["agency"] == BUILDING]
    # 1.3's 2025 commitment met by the evidence accepted for it; its 2030 one missed
    assert (building["parts"]["on_time"]["count"], building["parts"]["on_time"]["of"]) == (1, 2)
    assert building["parts"]["acceptance"]["rate"] == 1.0
