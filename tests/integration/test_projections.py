"""The projection runner on a real PostgreSQL: batches with tracking, a digest that
a rebuild from zero reproduces, loud errors that resume where they stopped."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import queue
import signal
import sys
import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from eventsourcing.persistence import PersistenceError
from psycopg import sql

from projections.audit_trail import AuditTrailView
from projections.dependencies import DependencyView, blocked, graphs
from projections.engine import runner as runner_module
from projections.engine.known_at import rows_known_at
from projections.engine.live import LiveViews
from projections.engine.replay import share_replay
from projections.engine.rows import Changes
from projections.engine.runner import BATCH, ProjectionRunner, Row, catch_up_all, rebuild_all
from projections.engine.tables import TrackingMovedError
from projections.kpi_attainment import KpiAttainmentView
from projections.red_flags import RedFlagView, item_flags
from projections.rollups import read_tasks
from projections.scorecards import ScorecardView, scorecards, standings
from projections.task_status import TaskStatusView
from projections.views import VIEWS, caught_up, view_named
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.cli import cmd_projection
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY

PB = "phuoc-binh-2026"
STEERING = "phuoc-binh.steering-committee"  # reviews the office's own tasks
DAY = dt.date(2026, 3, 2)


@pytest.fixture
def plans(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    return app


def report(app: Ledger, agency: str, task: str, percent: int) -> None:
    execute(
        app,
        "progress_reported",
        f"{PB}/task/{task}",
        Actor(agency, channel="test"),
        {"percent": percent, "as_of": DAY},
    )


def test_a_view_rebuilt_from_zero_has_the_digest_of_the_live_view(plans: Ledger) -> None:
    live = ProjectionRunner(plans, TaskStatusView(plans))
    live.catch_up(batch=50)
    report(plans, "phuoc-binh.health-post", "24", 30)
    live.catch_up(batch=50)
    report(plans, "phuoc-binh.health-post", "24", 45)
    office = Actor("phuoc-binh.vhxh", channel="test")
    execute(
        plans,
        "deadline_changed",
        f"{PB}/task/5",
        office,
        {"deadline": "Quý II/2026", "reason": "r", "document": "d"},
    )
    resumed = ProjectionRunner(plans, TaskStatusView(plans))  # a new process: nothing in memory
    resumed.catch_up()
    live_digest = resumed.digest()
    assert resumed.rows()[f"{PB}/task/24"]["percent"] == 45
    assert resumed.rows()[f"{PB}/task/5"]["deadline"] == "Quý II/2026"
    rebuilt = ProjectionRunner(plans, TaskStatusView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == live_digest
    assert rebuilt.position() == plans.recorder.max_notification_id()


def test_the_digest_changes_when_a_row_does(plans: Ledger) -> None:
    runner = ProjectionRunner(plans, TaskStatusView(plans))
    runner.catch_up()
    before = runner.digest()
    report(plans, "phuoc-binh.health-post", "24", 30)
    runner.catch_up()
    assert runner.digest() != before


class FailingView(TaskStatusView):
    """Fails on one event, as a projection bug would."""

    def __init__(self, app: Ledger, poison: int) -> None:
        super().__init__(app)
        self.poison = poison

    def apply(self, position: int, event: Any, /) -> None:
        if position == self.poison:
            msg = f"cannot project position {position}"
            raise RuntimeError(msg)
        super().apply(position, event)


def test_a_projection_error_stops_loudly_and_resumes_from_the_last_tracked_batch(
    plans: Ledger,
) -> None:
    poison = 120
    failing = ProjectionRunner(plans, FailingView(plans, poison))
    with pytest.raises(RuntimeError, match="cannot project position 120"):
        failing.catch_up(batch=50)
    assert failing.position() == 100
    fixed = ProjectionRunner(plans, TaskStatusView(plans))
    fixed.catch_up(batch=50)
    assert fixed.position() == plans.recorder.max_notification_id()
    rebuilt = ProjectionRunner(plans, TaskStatusView(plans))
    digest = fixed.digest()
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def test_catching_up_shows_its_progress(plans: Ledger) -> None:
    seen: list[tuple[int, int]] = []
    ProjectionRunner(plans, TaskStatusView(plans)).catch_up(
        lambda done, last: seen.append((done, last)), batch=100
    )
    last = plans.recorder.max_notification_id()
    assert seen[-1] == (last, last)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_the_audit_trail_shows_late_reports_and_corrections_and_rebuilds_to_the_same_digest(
    plans: Ledger,
) -> None:
    trail = ProjectionRunner(plans, AuditTrailView(plans))
    trail.catch_up()
    late = Actor(
        "phuoc-binh.ttpvhcc",
        channel="test",
        message_id="late-1",
        occurred_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    execute(
        plans,
        "progress_reported",
        f"{PB}/task/23",
        late,
        {"percent": 35, "as_of": dt.date(2026, 1, 5)},
    )
    fix = Actor("phuoc-binh.ttpvhcc", channel="test", message_id="fix-1")
    execute(
        plans,
        "report_corrected",
        f"{PB}/task/23",
        fix,
        {"report_version": 2, "percent": 25, "reason": "nhầm"},
    )
    trail.catch_up()
    reports = [r for r in trail.rows().values() if not r["subject"].startswith("submission/")]
    rows = {row["message_id"]: row for row in reports}  # the receipts share the message ids
    assert (rows["late-1"]["late"], rows["late-1"]["subject"]) == (True, f"{PB}/task/23")
    assert (rows["fix-1"]["topic"], rows["fix-1"]["corrects"]) == (
        "lienthong.task.ReportCorrected",
        2,
    )
    digest = trail.digest()
    rebuilt = ProjectionRunner(plans, AuditTrailView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def test_kpi_attainment_sets_the_2026_target_beside_the_2030_milestone(plans: Ledger) -> None:
    ubnd = Actor("da-mai.ubnd", channel="test")
    measure = {"unit": "%", "as_of": DAY}
    execute(
        plans,
        "indicator_measured",
        "da-mai-2026/indicator/E.11",
        ubnd,
        {**measure, "value": "58", "period": "2026-Q1"},
    )
    execute(
        plans,
        "indicator_measured",
        "da-mai-2026/indicator/E.14",
        ubnd,
        {**measure, "value": "96", "period": "2026"},
    )
    runner = ProjectionRunner(plans, KpiAttainmentView(plans))
    runner.catch_up()
    vneid = runner.rows()["da-mai-2026/indicator/E.11"]["periods"]
    assert vneid["2026"] == {
        "target": "≥ 60",
        "comparator": ">=",
        "measured_period": "2026-Q1",
        "value": "58",
        "met": False,
        "attainment": str(Decimal(58) / Decimal(60)),
        "standing": "at_risk",
        "due": "2026-12-31",
        "machine_judged": True,
        "parts": [],
    }
    # the 2030 milestone is judged on the latest figure so far, due on its own day
    assert [vneid["2030"][k] for k in ("target", "measured_period", "standing", "due")] == [
        "≥ 80",
        "2026-Q1",
        "off_track",
        "2030-12-31",
    ]
    assert runner.rows()["da-mai-2026/indicator/E.14"]["periods"]["2026"]["standing"] == "met"
    digest = runner.digest()
    rebuilt = ProjectionRunner(plans, KpiAttainmentView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def test_a_view_as_known_at_a_time_between_two_events_is_what_it_showed_then(
    plans: Ledger,
) -> None:
    runner = ProjectionRunner(plans, TaskStatusView(plans))
    report(plans, "phuoc-binh.health-post", "24", 30)
    runner.catch_up()
    then = runner.rows()
    between = dt.datetime.now(dt.UTC)
    report(plans, "phuoc-binh.health-post", "24", 60)
    runner.catch_up()
    assert runner.rows() != then
    known = rows_known_at(plans, {TaskStatusView.name: TaskStatusView}, between)
    assert known[TaskStatusView.name] == then


def test_views_as_of_a_day_leave_out_the_facts_about_later_days_and_apply_the_rest(
    plans: Ledger,
) -> None:
    lead = Actor("phuoc-binh.health-post", channel="test")
    task = f"{PB}/task/24"
    for percent, as_of in ((30, dt.date(2026, 3, 2)), (60, dt.date(2026, 11, 1))):
        execute(plans, "progress_reported", task, lead, {"percent": percent, "as_of": as_of})
    late = execute(
        plans, "progress_reported", task, lead, {"percent": 70, "as_of": dt.date(2026, 5, 1)}
    )
    fix = {"report_version": late - 1, "percent": 65, "reason": "nhầm"}
    execute(plans, "report_corrected", task, lead, fix)  # about 1 November
    names = [name for name in VIEWS if name != "audit_trail"]
    factories = {name: VIEWS[name] for name in names}
    june = rows_known_at(plans, factories, as_of=dt.date(2026, 6, 30))
    # the report about 1 November and its correction are left out; the one recorded
    # after them, about 1 May, applies
    row = june["task_status"][task]
    assert (row["percent"], row["last_report_as_of"]) == (70, "2026-05-01")
    assert (
        june["task_status"][f"{PB}/task/4"]
        == caught_up(plans, ["task_status"])["task_status"][f"{PB}/task/4"]
    )
    # as of a day after every report, the replay is the views as they are
    assert rows_known_at(plans, factories, as_of=dt.date(2026, 12, 31)) == caught_up(plans, names)


def test_a_view_followed_in_its_table_only_applies_new_events_as_they_are_recorded(
    plans: Ledger,
) -> None:
    """As ``lienthong projections follow VIEW`` follows one view."""
    live = LiveViews(plans, {TaskStatusView.name: TaskStatusView}, table_only={TaskStatusView.name})
    live.wait_seconds = 0.2
    committed: queue.Queue[int] = queue.Queue()
    live.subscribers.add(lambda _changes, position: committed.put(position))
    live.catch_up()
    follower = threading.Thread(target=live.follow, kwargs={"stop_on_error": True})
    follower.start()
    try:
        report(plans, "phuoc-binh.health-post", "24", 30)
        recorded = plans.recorder.max_notification_id() or 0
        while committed.get(timeout=30) < recorded:
            pass
    finally:
        live.stop()
        follower.join(timeout=30)
    assert not follower.is_alive()
    runner = ProjectionRunner(plans, TaskStatusView(plans))
    assert runner.rows()[f"{PB}/task/24"]["percent"] == 30
    assert runner.position() == recorded
    assert live.rows(TaskStatusView.name) == {}  # nothing kept in memory


def test_the_follow_command_follows_one_view_in_its_table_and_prints_its_digest(
    plans: Ledger, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: queue.Queue[LiveViews] = queue.Queue()
    step = LiveViews.step

    def stepped(live: LiveViews, batch: int = BATCH) -> int:
        applied = step(live, batch)
        steps.put(live)
        return applied

    monkeypatch.setattr(LiveViews, "step", stepped)
    failures: list[BaseException] = []

    def record_then_stop() -> None:
        live = steps.get(timeout=30)  # following
        try:
            report(plans, "phuoc-binh.health-post", "24", 30)
            recorded = plans.recorder.max_notification_id() or 0
            while live.position < recorded:
                live = steps.get(timeout=30)
            assert live.rows(TaskStatusView.name) == {}  # nothing kept in memory
        except BaseException as failure:  # noqa: BLE001 (reported by the test)
            failures.append(failure)
        finally:
            live.stop()

    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    helper = threading.Thread(target=record_then_stop)
    helper.start()
    try:
        args = argparse.Namespace(all=False, view="task_status", projection_command="follow")
        code = cmd_projection(plans, args)
    finally:
        helper.join(timeout=30)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert failures == []
    runner = ProjectionRunner(plans, TaskStatusView(plans))
    assert (code, capsys.readouterr().out) == (0, f"{runner.digest()}\n")
    assert runner.rows()[f"{PB}/task/24"]["percent"] == 30


class OvertakenView(TaskStatusView):
    """While it applies its first batch, another writer brings its table up to the
    log (``overtakes``: how many times that may still happen, shared by the views a
    factory makes)."""

    def __init__(self, app: Ledger, overtakes: list[None]) -> None:
        super().__init__(app)
        self.overtakes = overtakes
        self.flushed = False

    def flush(self) -> dict[str, Row | None]:
        if not self.flushed and self.overtakes:
            self.overtakes.pop()
            ProjectionRunner(self.app, TaskStatusView(self.app)).catch_up()
        self.flushed = True
        return super().flush()


def test_a_runner_whose_view_another_writer_moved_stops_loudly_and_never_moves_it_back(
    plans: Ledger,
) -> None:
    catch_up_all([ProjectionRunner(plans, TaskStatusView(plans))], batch=50, stop=100)
    report(plans, "phuoc-binh.health-post", "24", 30)
    runner = ProjectionRunner(plans, OvertakenView(plans, [None]))  # saw position 100
    with pytest.raises(TrackingMovedError, match="view task_status: another writer moved"):
        runner.catch_up(batch=50)
    assert runner.position() == plans.recorder.max_notification_id()
    assert runner.rows()[f"{PB}/task/24"]["percent"] == 30
    digest = runner.digest()
    rebuilt = ProjectionRunner(plans, TaskStatusView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def test_live_views_read_back_a_view_another_writer_moved_while_they_caught_up(
    plans: Ledger,
) -> None:
    catch_up_all([ProjectionRunner(plans, TaskStatusView(plans))], batch=50, stop=100)
    report(plans, "phuoc-binh.health-post", "24", 30)
    overtakes: list[None] = [None]
    live = LiveViews(plans, {TaskStatusView.name: lambda app: OvertakenView(app, overtakes)})
    handed: list[Changes] = []
    live.subscribers.add(lambda changes, _position: handed.append(changes))
    live.catch_up()
    last = plans.recorder.max_notification_id()
    assert (overtakes, live.position, handed[-1].keys()) == ([], last, {TaskStatusView.name})
    assert live.rows(TaskStatusView.name) == ProjectionRunner(plans, TaskStatusView(plans)).rows()
    assert live.rows(TaskStatusView.name)[f"{PB}/task/24"]["percent"] == 30


def test_the_dependency_view_shows_who_waits_on_whom_and_what_is_blocked(plans: Ledger) -> None:
    office = Actor("phuoc-binh.vhxh", channel="test")
    execute(
        plans,
        "dependency_declared",
        PB,
        office,
        {"upstream": "28", "downstream": "24", "reason": "cần dữ liệu"},
    )
    runner = ProjectionRunner(plans, DependencyView(plans))
    runner.catch_up()
    assert runner.rows()[f"{PB}/task/24"]["lead"] == ["phuoc-binh.health-post"]
    row = graphs(runner.rows())[PB]
    assert row["dependencies"] == [["28", "24"]]
    health_post = row["agencies"]["phuoc-binh.health-post"]
    assert {
        "agency": "phuoc-binh.health-post",
        "task": "24",
        "on": "phuoc-binh.police",
        "upstream": "28",
        "reason": "dependency",
    } in health_post["waits_on"]
    assert any(
        w["reason"] == "dependency" and w["agency"] == "phuoc-binh.health-post"
        for w in row["agencies"]["phuoc-binh.police"]["waited_by"]
    )
    assert blocked(row, dt.date(2026, 12, 15)) == [{"downstream": "24", "upstream": "28"}]
    assert blocked(row, dt.date(2026, 1, 15)) == []
    digest = runner.digest()
    rebuilt = ProjectionRunner(plans, DependencyView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def test_scorecards_rank_agencies_and_explain_each_score(plans: Ledger) -> None:
    office = Actor(
        "phuoc-binh.vhxh", channel="test", occurred_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    )
    signed = {
        "sha256": "a" * 64,
        "uri": "s3://a",
        "media_type": "application/pdf",
        "description": "đã ký",
    }
    execute(plans, "completion_claimed", f"{PB}/task/3", office, {}, [signed])
    steering = replace(office, agency="phuoc-binh.steering-committee")  # the office leads 3
    execute(plans, "evidence_accepted", f"{PB}/task/3", steering, {"sha256": "a" * 64})
    execute(plans, "completion_confirmed", f"{PB}/task/3", steering, {})
    centre = Actor("phuoc-binh.ttpvhcc", channel="test")
    unsigned = {
        "sha256": "b" * 64,
        "uri": "s3://b",
        "media_type": "application/pdf",
        "description": "chưa ký",
    }
    execute(plans, "completion_claimed", f"{PB}/task/8", centre, {}, [unsigned])
    execute(
        plans,
        "evidence_rejected",
        f"{PB}/task/8",
        office,
        {"sha256": "b" * 64, "reason": "chưa ký"},
    )
    runner = ProjectionRunner(plans, ScorecardView(plans))
    runner.catch_up()
    flags = ProjectionRunner(plans, RedFlagView(plans))
    flags.catch_up()
    today = dt.date(2026, 4, 1)
    cards = {card["agency"]: card for card in scorecards(runner.rows(), flags.rows(), today)}
    vhxh, centre_card = cards["phuoc-binh.vhxh"], cards["phuoc-binh.ttpvhcc"]
    # VHXH: task 3 done on time; tasks 4 and 5 (also due Quý I) are late
    assert vhxh["parts"]["on_time"] | {"rate": None} == {
        "count": 1,
        "of": 3,
        "rate": None,
        "weight": 0.4,
    }
    assert (vhxh["parts"]["acceptance"]["count"], vhxh["parts"]["acceptance"]["rate"]) == (1, 1.0)
    # task 8 is in "Chờ hoàn thiện": it counts 0, in on_time too though not due yet
    assert (centre_card["parts"]["acceptance"]["rate"], centre_card["parts"]["on_time"]["of"]) == (
        0.0,
        1,
    )
    ranking = [card["agency"] for card in scorecards(runner.rows(), flags.rows(), today)]
    assert ranking.index("phuoc-binh.vhxh") < ranking.index("phuoc-binh.ttpvhcc")
    digest = runner.digest()
    rebuilt = ProjectionRunner(plans, ScorecardView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def on(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)


def quarter_of_task_3(app: Ledger) -> None:
    """VHXH falls behind on task 3 (due Quý I/2026), misses the deadline, has its
    evidence judged low quality, then completes it on 20 April."""
    subject = f"{PB}/task/3"
    for day, percent in ((dt.date(2026, 2, 1), 10), (dt.date(2026, 3, 1), 20)):
        vhxh = Actor("phuoc-binh.vhxh", channel="test", occurred_at=on(day))
        execute(app, "progress_reported", subject, vhxh, {"percent": percent, "as_of": day})
    april_10 = Actor("phuoc-binh.vhxh", channel="test", occurred_at=on(dt.date(2026, 4, 10)))
    execute(app, "completion_claimed", subject, april_10, {}, [evidence("a", "bản scan mờ")])
    execute(
        app,
        "evidence_rejected",
        subject,
        replace(april_10, agency=STEERING),
        {"sha256": "a" * 64, "reason": "không đọc được"},
    )


def completes_task_3(app: Ledger) -> None:
    subject = f"{PB}/task/3"
    april_20 = Actor("phuoc-binh.vhxh", channel="test", occurred_at=on(dt.date(2026, 4, 20)))
    execute(app, "completion_claimed", subject, april_20, {}, [evidence("c", "bản đã ký")])
    steering = replace(april_20, agency=STEERING)  # VHXH leads task 3: not its reviewer
    execute(app, "evidence_accepted", subject, steering, {"sha256": "c" * 64})
    execute(app, "completion_confirmed", subject, steering, {})


def evidence(letter: str, description: str) -> dict[str, str]:
    return {
        "sha256": letter * 64,
        "uri": f"s3://{letter}",
        "media_type": "application/pdf",
        "description": description,
    }


def spans(rows: dict[str, Any], today: dt.date) -> list[tuple[str, str, str | None, str]]:
    _, history = item_flags(rows, f"{PB}/task/3", today)
    return [
        (s.rule, str(s.raised_on), str(s.cleared_on) if s.cleared_on else None, s.cleared_by or "")
        for s in history
    ]


def test_red_flags_rise_and_clear_with_their_causes_and_keep_their_history(
    plans: Ledger,
) -> None:
    runner = ProjectionRunner(plans, RedFlagView(plans))
    quarter_of_task_3(plans)
    runner.catch_up(batch=40)
    rows = runner.rows()
    assert rows[PB]["start"] == "2026-01-15"
    up, _ = item_flags(rows, f"{PB}/task/3", dt.date(2026, 4, 12))
    assert {(f.rule, f.version, f.period) for f in up} == {
        ("PAST_DEADLINE", 2, ""),
        ("BEHIND_SCHEDULE", 2, ""),
        ("LOW_QUALITY_EVIDENCE", 1, ""),
        ("REPORT_MISSING", 1, "2026-01"),  # its reports are about February and March
    }
    completes_task_3(plans)
    runner.catch_up(batch=40)
    cleared_by = f"{PB}/task/3@v"
    history = spans(runner.rows(), dt.date(2026, 5, 1))
    assert [h[:3] for h in history] == [
        # nothing is judged on the schedule until January's report was due (7 February)
        ("BEHIND_SCHEDULE", "2026-02-08", "2026-04-20"),
        ("LATE_FORECAST", "2026-02-08", "2026-04-01"),
        ("REPORT_MISSING", "2026-02-08", "2026-04-20"),
        ("PAST_DEADLINE", "2026-04-01", "2026-04-20"),
        ("LOW_QUALITY_EVIDENCE", "2026-04-10", "2026-04-20"),
    ]
    assert history[1][3] == "time"  # the deadline passing turned the warning into lateness
    assert all(h[3].startswith(cleared_by) for h in (history[0], *history[2:]))
    assert spans(runner.rows(), dt.date(2026, 3, 15)) == [
        ("BEHIND_SCHEDULE", "2026-02-08", None, ""),
        ("LATE_FORECAST", "2026-02-08", None, ""),
        ("REPORT_MISSING", "2026-02-08", None, ""),
    ]
    digest = runner.digest()
    rebuilt = ProjectionRunner(plans, RedFlagView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == digest


def test_a_resumed_red_flag_runner_picks_up_each_items_earlier_states_from_the_store(
    plans: Ledger,
) -> None:
    ProjectionRunner(plans, RedFlagView(plans)).catch_up()
    quarter_of_task_3(plans)
    ProjectionRunner(plans, RedFlagView(plans)).catch_up()  # first runner: a process that ended
    completes_task_3(plans)
    resumed = ProjectionRunner(plans, RedFlagView(plans))  # meets task 3 mid-history
    resumed.catch_up()
    rebuilt = ProjectionRunner(plans, RedFlagView(plans))
    rebuilt.rebuild()
    assert resumed.digest() == rebuilt.digest()


def test_a_task_handed_to_another_lead_unit_leaves_no_score_with_the_old_one(
    plans: Ledger, tmp_path: Path
) -> None:
    live = ProjectionRunner(plans, ScorecardView(plans))
    live.catch_up()
    source = next(p for p in PLANS if p.name.startswith("001"))
    text = source.read_text(encoding="utf-8")
    at = text.index('  - key: "24"')  # task 24 (the health post's EHR link) goes to the police
    old = "    lead: [phuoc-binh.health-post]\n"
    text = text[:at] + text[at:].replace(old, "    lead: [phuoc-binh.police]\n", 1)
    (tmp_path / source.name).write_text(text, encoding="utf-8")
    report = import_plans(plans, [tmp_path / source.name], REGISTRY, reason="Giao lại đơn vị")
    assert report.plans[0]["action"] == "amended"
    live.catch_up()
    assert live.rows()[f"{PB}/task/24"]["lead"] == ["phuoc-binh.police"]
    flags = ProjectionRunner(plans, RedFlagView(plans))
    flags.catch_up()
    cards = {card["agency"]: card for card in scorecards(live.rows(), flags.rows(), DAY)}
    assert cards["phuoc-binh.health-post"]["tasks"] == 0  # its KPIs still count for it
    rebuilt = ProjectionRunner(plans, ScorecardView(plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == live.digest()


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_rebuilt_from_zero_has_the_digest_of_the_live_view(
    plans: Ledger, name: str
) -> None:
    live = ProjectionRunner(plans, view_named(name, plans))
    live.catch_up(batch=37)
    quarter_of_task_3(plans)
    report(plans, "phuoc-binh.health-post", "24", 30)
    live.catch_up(batch=7)
    office = Actor("phuoc-binh.vhxh", channel="test")
    execute(
        plans,
        "dependency_declared",
        PB,
        office,
        {"upstream": "28", "downstream": "24", "reason": "r"},
    )
    completes_task_3(plans)
    resumed = ProjectionRunner(plans, view_named(name, plans))  # a new process
    resumed.catch_up(batch=5)
    rebuilt = ProjectionRunner(plans, view_named(name, plans))
    rebuilt.rebuild()
    assert rebuilt.digest() == resumed.digest()
    assert rebuilt.rows()  # the view holds something to compare


def every_view(app: Ledger) -> list[ProjectionRunner]:
    """A runner per registered view, the aggregate views sharing one replay."""
    views = [view_named(name, app) for name in sorted(VIEWS)]
    share_replay(views)
    return [ProjectionRunner(app, view) for view in views]


@pytest.mark.parametrize("apart_events", [0, 10**9])
def test_every_view_rebuilt_in_one_pass_sharing_a_replay_matches_each_rebuilt_alone(
    plans: Ledger, monkeypatch: pytest.MonkeyPatch, apart_events: int
) -> None:
    """With the audit trail apart in a process of its own (0) and in the one pass."""
    monkeypatch.setattr(runner_module, "APART_EVENTS", apart_events)
    quarter_of_task_3(plans)
    report(plans, "phuoc-binh.health-post", "24", 30)
    completes_task_3(plans)
    together = every_view(plans)
    read = rebuild_all(together)
    last = plans.recorder.max_notification_id()
    assert read == last
    for runner in together:
        alone = ProjectionRunner(plans, view_named(runner.view.name, plans))
        alone.rebuild()
        assert runner.digest() == alone.digest(), runner.view.name
        assert runner.position() == last


@pytest.mark.parametrize("touched", [3, 10**9])
def test_views_deferring_their_rows_end_with_the_rows_written_at_every_batch(
    plans: Ledger, monkeypatch: pytest.MonkeyPatch, touched: int
) -> None:
    """A pass with ``defer_rows`` (as a rebuild makes): the aggregate views write when
    they have touched ``touched`` aggregates (3: many times; 10**9: once, at the end)
    and end with the rows and positions of views written at every batch."""
    quarter_of_task_3(plans)
    report(plans, "phuoc-binh.health-post", "24", 30)
    completes_task_3(plans)
    monkeypatch.setattr(runner_module, "DEFER_TOUCHED", touched)
    deferring = every_view(plans)
    catch_up_all(deferring, batch=7, defer_rows=True)
    last = plans.recorder.max_notification_id()
    for runner in deferring:
        every_batch = ProjectionRunner(plans, view_named(runner.view.name, plans))
        every_batch.drop()
        catch_up_all([every_batch], batch=7)
        assert runner.position() == every_batch.position() == last
        assert runner.digest() == every_batch.digest(), runner.view.name


def test_a_view_deferring_its_rows_keeps_what_it_last_wrote_when_the_pass_fails(
    plans: Ledger,
) -> None:
    runners = [
        ProjectionRunner(plans, AuditTrailView(plans)),
        ProjectionRunner(plans, FailingView(plans, poison=120)),
    ]
    with pytest.raises(RuntimeError, match="cannot project position 120"):
        catch_up_all(runners, batch=50, defer_rows=True)
    assert [runner.position() for runner in runners] == [100, 0]
    assert runners[1].rows() == {}
    fixed = ProjectionRunner(plans, TaskStatusView(plans))
    catch_up_all([fixed], batch=50, defer_rows=True)
    rebuilt = ProjectionRunner(plans, TaskStatusView(plans))
    rebuilt.rebuild()
    assert fixed.digest() == rebuilt.digest()
    assert fixed.position() == plans.recorder.max_notification_id()


class FailingApartView(AuditTrailView):
    """Rebuilt apart (as the audit trail is), and failing there on position 120."""

    def apply(self, position: int, event: Any, /) -> None:
        if position == 120:
            msg = f"cannot project position {position}"
            raise RuntimeError(msg)
        super().apply(position, event)


def test_a_view_rebuilt_apart_in_a_process_of_its_own_fails_the_rebuild_loudly(
    plans: Ledger, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner_module, "APART_EVENTS", 0)  # the store is small
    # the process apart imports this module by the name pytest gave it
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    runners = [
        ProjectionRunner(plans, FailingApartView(plans)),
        ProjectionRunner(plans, TaskStatusView(plans)),
    ]
    with pytest.raises(RuntimeError, match="view audit_trail: its rebuild apart failed"):
        rebuild_all(runners)
    assert "cannot project position 120" in capfd.readouterr().err
    assert runners[0].position() < 120 <= runners[1].position()


def test_views_at_different_positions_catch_up_in_one_pass_each_from_its_own(
    plans: Ledger,
) -> None:
    ahead = ProjectionRunner(plans, TaskStatusView(plans))
    ahead.catch_up(batch=40)
    quarter_of_task_3(plans)
    middle = ProjectionRunner(plans, ScorecardView(plans))
    middle.catch_up()
    report(plans, "phuoc-binh.health-post", "24", 30)
    completes_task_3(plans)
    resumed = [ahead, middle, ProjectionRunner(plans, AuditTrailView(plans))]
    views = [TaskStatusView(plans), ScorecardView(plans), AuditTrailView(plans)]
    share_replay(views)
    runners = [ProjectionRunner(plans, view) for view in views]  # a new process
    catch_up_all(runners, batch=6)
    last = plans.recorder.max_notification_id()
    for runner, earlier in zip(runners, resumed, strict=True):
        rebuilt = ProjectionRunner(plans, view_named(runner.view.name, plans))
        rebuilt.rebuild()
        assert runner.position() == earlier.position() == last
        assert runner.digest() == rebuilt.digest(), runner.view.name


def test_an_error_in_one_view_stops_the_pass_and_every_view_keeps_its_last_batch(
    plans: Ledger,
) -> None:
    runners = [
        ProjectionRunner(plans, AuditTrailView(plans)),
        ProjectionRunner(plans, FailingView(plans, poison=120)),
    ]
    with pytest.raises(RuntimeError, match="cannot project position 120"):
        catch_up_all(runners, batch=50)
    assert [runner.position() for runner in runners] == [100, 100]
    assert max(int(key) for key in runners[0].rows()) == 100
    fixed = [ProjectionRunner(plans, AuditTrailView(plans))]
    catch_up_all(fixed, batch=50)
    rebuilt = ProjectionRunner(plans, AuditTrailView(plans))
    rebuilt.rebuild()
    assert fixed[0].digest() == rebuilt.digest()


class UnwritableView(TaskStatusView):
    """Its rows cannot be stored (as a row PostgreSQL refuses would be)."""

    def flush(self) -> dict[str, Row | None]:
        return {key: {"bad": "\x00"} for key in super().flush()}


def test_a_failed_write_stops_the_pass_loudly_and_commits_nothing_of_that_batch(
    plans: Ledger,
) -> None:
    runners = [
        ProjectionRunner(plans, AuditTrailView(plans)),
        ProjectionRunner(plans, UnwritableView(plans)),
    ]
    with pytest.raises(PersistenceError, match="cannot be converted"):
        catch_up_all(runners, batch=50)
    position = runners[0].position()
    assert runners[1].position() == position < (plans.recorder.max_notification_id() or 0)
    assert max((int(key) for key in runners[0].rows()), default=0) == position
    assert runners[1].rows() == {}


def test_a_level_measured_against_a_numeric_target_is_unjudgeable_and_the_view_goes_on(
    plans: Ledger,
) -> None:
    """Bình Phước's 1.4.1.a counts in "Thứ bậc" (a level unit) against "nhóm 10 xã/phường
    dẫn đầu" (a number): the store accepts "Khá"; the view must not stop on it."""
    subject = "binh-phuoc-2026/indicator/1.4.1.a"
    ubnd = Actor("binh-phuoc.ubnd", channel="test")
    measure = {"unit": "Thứ bậc", "as_of": DAY, "period": "2026"}
    execute(plans, "indicator_measured", subject, ubnd, {**measure, "value": "Khá"})
    runner = ProjectionRunner(plans, KpiAttainmentView(plans))
    runner.catch_up()
    period = runner.rows()[subject]["periods"]["2026"]
    assert (period["value"], period["met"], period["standing"]) == ("Khá", None, "unjudgeable")


def test_the_unit_that_reports_ranks_ahead_of_silent_units_and_no_collective_is_ranked(
    plans: Ledger,
) -> None:
    for month, as_of in enumerate(
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)), 1
    ):
        # the only unit that reports, each month on its last day
        moment = dt.datetime.combine(as_of, dt.time(9), dt.UTC)
        post = Actor("phuoc-binh.health-post", channel="test", occurred_at=moment)
        progress = {"percent": 20 * month, "as_of": as_of}
        execute(plans, "progress_reported", f"{PB}/task/24", post, progress)
        for kpi in ("7", "11"):  # both "≥ 90" in 2026, led and monitored by the health post
            measured = {"value": "91", "unit": "%", "period": f"2026-0{month}", "as_of": as_of}
            execute(plans, "indicator_measured", f"{PB}/indicator/{kpi}", post, measured)
    views = caught_up(plans, ("plans", "red_flags", "scorecards"))
    units, collectives = standings(views, {PB}, dt.date(2026, 4, 10))
    post_card = units[0]
    assert post_card["agency"] == "phuoc-binh.health-post"
    assert all(card["score"] < post_card["score"] for card in units[1:])
    assert {part: (v["count"], v["of"]) for part, v in post_card["parts"].items()} == {
        "on_time": (2, 2),  # both KPI milestones met, ahead of their 31/12 due day
        "acceptance": (0, 0),
        "timeliness": (9, 9),  # January, February, March for the task and both KPIs
        "unflagged": (3, 3),
    }
    registry = {
        a["id"]: a for a in yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))["agencies"]
    }
    assert not [c["agency"] for c in units if registry[c["agency"]]["kind"] == "collective"]
    assert "phuoc-binh.related-units" in {card["agency"] for card in collectives}
    assert all(registry[card["agency"]]["kind"] == "collective" for card in collectives)


def test_an_item_in_cho_hoan_thien_counts_0_in_its_units_score_and_in_the_rollups(
    plans: Ledger,
) -> None:
    centre, office = (
        Actor("phuoc-binh.ttpvhcc", channel="test"),
        Actor("phuoc-binh.vhxh", channel="test"),
    )
    subject, today = f"{PB}/task/8", dt.date(2026, 4, 10)  # 8: "Thường xuyên", no due day
    unsigned = {
        "sha256": "e" * 64,
        "uri": "s3://e",
        "media_type": "application/pdf",
        "description": "",
    }
    execute(plans, "progress_reported", subject, centre, {"percent": 60, "as_of": DAY})

    def standing() -> tuple[int, dict[str, tuple[int, int]]]:
        views = caught_up(plans, ("plans", "red_flags", "scorecards", "task_status"))
        reading = next(
            r
            for r in read_tasks(views["task_status"], views["red_flags"], today)
            if r.name == subject
        )
        card = next(c for c in standings(views, {PB}, today)[0] if c["agency"] == centre.agency)
        return reading.percent, {part: (v["count"], v["of"]) for part, v in card["parts"].items()}

    percent, before = standing()
    assert percent == 60
    execute(plans, "completion_claimed", subject, centre, {}, [unsigned])
    rejection = {"sha256": unsigned["sha256"], "reason": "chưa ký"}
    execute(plans, "evidence_rejected", subject, office, rejection)
    percent, after = standing()
    assert percent == 0, "a rollup credits it 0"
    assert after == {
        "on_time": (0, before["on_time"][1] + 1),  # counted though it has no due day
        "acceptance": (0, 1),
        "timeliness": (before["timeliness"][0] - 1, before["timeliness"][1]),  # March's report
        # every item of the centre already owes January's report (REPORT_MISSING)
        "unflagged": (0, before["unflagged"][1]),
    }
    assert before["unflagged"][0] == 0
    fixed = {**unsigned, "sha256": "f" * 64}
    execute(plans, "completion_claimed", subject, centre, {}, [fixed])
    execute(plans, "evidence_accepted", subject, office, {"sha256": fixed["sha256"]})
    execute(plans, "completion_confirmed", subject, office, {})
    percent, done = standing()
    assert percent == 100
    assert done["on_time"] == (1, before["on_time"][1] + 1)


def test_the_log_is_read_by_its_index_on_a_store_never_analysed(app: Ledger) -> None:
    """A first start right after a bulk load: no statistics yet. Each batch is read by
    the index on positions, not by sorting every event after the batch's start."""
    reader = runner_module.LogReader(app)
    recorder = runner_module.postgres_recorder(app)
    events = recorder.events_table_name
    with recorder.datastore.transaction(commit=True) as cursor:
        # nor analysed meanwhile
        cursor.execute(
            sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                sql.Identifier(events)
            )
        )
        cursor.execute(  # events of about the size of a province's (~700 bytes of state)
            sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " SELECT gen_random_uuid(), 1, 'x', convert_to(repeat('x', 700), 'UTF8')"
                " FROM generate_series(1, 30000)"
            ).format(sql.Identifier(events))
        )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            "SELECT coalesce(last_analyze, last_autoanalyze) AS analysed FROM pg_stat_user_tables"
            " WHERE relname = %s",
            (events,),
        )
        assert cursor.fetchone() == {"analysed": None}
        cursor.execute(sql.SQL("EXPLAIN ") + reader.open, (0, BATCH))
        plan = "\n".join(row["QUERY PLAN"] for row in cursor.fetchall())
        # what a bounded range costs here: every event after the start, sorted
        cursor.execute(sql.SQL("EXPLAIN ") + reader.bounded, (0, 2**62, BATCH))
        bounded = "\n".join(row["QUERY PLAN"] for row in cursor.fetchall())
    assert "Index Scan" in plan, plan
    assert "Sort" not in plan, plan
    assert "Sort" in bounded, bounded
