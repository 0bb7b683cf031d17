"""The client SDK and its example publisher against a real server."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from domain.messages import vietnamese
from lienthong_sdk import envelopes
from lienthong_sdk.client import AgencyClient, CoordinationClient, LienthongError
from tests.e2e.conftest import ServerThread
from tests.identities import folder, identity

PB = "phuoc-binh-2026"
DAY = dt.date(2026, 2, 10)


def test_an_agency_client_publishes_and_a_resend_is_a_duplicate(server: ServerThread) -> None:
    with AgencyClient(
        f"127.0.0.1:{server.port}",
        "phuoc-binh.health-post",
        "Nguyễn Văn A",
        identity=identity("phuoc-binh.health-post"),
    ) as client:
        envelope = envelopes.progress_reported(
            f"{PB}/task/24", percent=30, as_of=DAY, agency_id="phuoc-binh.health-post"
        )
        first, again = client.publish(envelope), client.publish(envelope)
    assert (first.outcome, again.outcome, again.position) == (
        "accepted",
        "duplicate",
        first.position,
    )


def test_a_refusal_comes_back_as_a_rejected_verdict(server: ServerThread) -> None:
    with AgencyClient(
        server.address, "phuoc-binh.vhxh", identity=identity("phuoc-binh.vhxh")
    ) as client:
        verdict = client.report_progress(f"{PB}/task/24", 10, DAY)
    assert (verdict.outcome, verdict.reason_code) == ("rejected", "NOT_LEAD_UNIT")
    # Vietnamese first, then the detail the receipt keeps
    assert verdict.message.startswith(vietnamese("NOT_LEAD_UNIT") + " — ")


def test_an_invalid_request_raises_with_every_field_violation(server: ServerThread) -> None:
    with (
        AgencyClient(
            server.address, "phuoc-binh.health-post", identity=identity("phuoc-binh.health-post")
        ) as client,
        pytest.raises(LienthongError) as raised,
    ):
        client.report_progress(f"{PB}/task/24", 150, DAY)
    assert raised.value.code == "INVALID_ARGUMENT"
    assert [field for field, _ in raised.value.field_violations] == [
        "envelope.progress_reported.percent"
    ]


def test_a_value_the_domain_refuses_is_a_rejected_verdict_naming_the_rule(
    server: ServerThread,
) -> None:
    with AgencyClient(
        server.address, "phuoc-binh.health-post", identity=identity("phuoc-binh.health-post")
    ) as client:
        verdict = client.record_measurement(f"{PB}/indicator/7", "71", "Thứ bậc", "2026-Q1", DAY)
    assert (verdict.outcome, verdict.reason_code) == ("rejected", "UNIT_MISMATCH")


def test_the_coordination_client_reviews_and_reads_the_status(server: ServerThread) -> None:
    target = f"127.0.0.1:{server.port}"
    with CoordinationClient(
        target, "phuoc-binh.vhxh", identity=identity("phuoc-binh.vhxh")
    ) as office:
        verdict = office.declare_dependency(PB, "21", "24", "cần danh tính số")
        tasks = list(office.list_tasks(PB))
        status = office.get_plan_status(PB, as_of=dt.date(2026, 4, 1))
    assert verdict.outcome == "accepted"
    assert len(tasks) == 32
    assert [(d.upstream_task, d.downstream_task) for d in status.dependencies] == [("21", "24")]


def test_the_coordination_client_reads_flags_dependencies_and_scorecards(
    server: ServerThread,
) -> None:
    with CoordinationClient(
        server.address, "phuoc-binh.vhxh", identity=identity("phuoc-binh.vhxh")
    ) as office:
        office.declare_dependency(PB, "21", "24", "cần danh tính số")
        flags = list(office.list_red_flags(plan_id=PB, as_of=dt.date(2026, 4, 2)))
        dependencies = office.get_dependencies(PB, as_of=dt.date(2026, 4, 2))
        cards = list(office.list_scorecards(plan_id=PB, as_of=dt.date(2026, 4, 2)))
        owed = list(
            office.list_missing_reports(agency_id="phuoc-binh.vhxh", as_of=dt.date(2026, 4, 2))
        )
    assert ("PAST_DEADLINE", f"{PB}/task/4") in {(f.rule, f.subject) for f in flags}
    # every page read: the reports owed are the REPORT_MISSING flags of VHXH's items
    assert {(m.subject, m.period) for m in owed} == {
        (f.subject, f.period)
        for f in flags
        if f.rule == "REPORT_MISSING" and "phuoc-binh.vhxh" in f.units
    }
    # 21 is a standing duty ("Thường xuyên"): it has no due day and is on no path
    assert list(dependencies.critical_path.tasks) == ["24"]
    assert dependencies.critical_path.schedule[0].due == "2026-12-31"
    assert [c.rank for c in cards] == list(range(1, len(cards) + 1))


def test_the_example_publisher_reports_progress_and_prints_the_verdict(
    server: ServerThread,
) -> None:
    command = [
        sys.executable, "-m", "lienthong_sdk.examples.agency_publisher",
        "--target", f"127.0.0.1:{server.port}", "--agency", "phuoc-binh.health-post",
        "--subject", f"{PB}/task/24", "--percent", "35", "--pki", str(folder()),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout


def test_the_coordination_client_asks_the_auditors_questions(server: ServerThread) -> None:
    task = f"{PB}/task/24"
    with AgencyClient(
        server.address, "phuoc-binh.health-post", identity=identity("phuoc-binh.health-post")
    ) as lead:
        reported = lead.report_progress(task, 30, DAY)  # a report of 10 February: late
        known_at = dt.datetime.now(dt.UTC)
        corrected = lead.correct_report(task, reported.subject_version, 20, "đếm trùng")
    assert (reported.outcome, corrected.outcome) == ("accepted", "accepted")
    with CoordinationClient(
        server.address, "phuoc-binh.vhxh", identity=identity("phuoc-binh.vhxh")
    ) as office:
        late = list(office.list_events(agency_id="phuoc-binh.health-post", late_only=True))
        changed = list(office.list_corrections(known_at, plan_id=PB))
        answer = office.get_inspection(PB, dt.date(2026, 6, 30), known_at)
    assert [e.position for e in late] == [reported.position]
    assert [(v.field, v.before, v.after) for c in changed for v in c.changes] == [
        ("percent", "30", "20")
    ]
    assert [c.position for c in answer.corrections_after] == [corrected.position]
    assert [e.position for e in answer.late_reports] == [reported.position]
    assert (answer.covered, answer.status.position) == (False, reported.position)


def test_the_coordination_client_reads_a_plan_as_known_at_a_moment(server: ServerThread) -> None:
    task = f"{PB}/task/24"
    with AgencyClient(
        server.address, "phuoc-binh.health-post", identity=identity("phuoc-binh.health-post")
    ) as lead:
        reported = lead.report_progress(task, 30, DAY)
        known_at = dt.datetime.now(dt.UTC)
        corrected = lead.correct_report(task, reported.subject_version, 20, "đếm trùng")
    later = DAY + dt.timedelta(days=1)
    with CoordinationClient(
        server.address, "phuoc-binh.vhxh", identity=identity("phuoc-binh.vhxh")
    ) as office:
        then = office.get_task(task, later, as_known_at=known_at)
        now = office.get_task(task, later)
        listed = {t.name: t for t in office.list_tasks(PB, as_of=later, as_known_at=known_at)}
        status = office.get_plan_status(PB, later, as_known_at=known_at)
        plans = list(office.list_plans(as_known_at=known_at))
        plan = office.get_plan(PB, as_known_at=known_at)
        indicators = list(office.list_indicators(PB, as_of=later, as_known_at=known_at))
        indicator = office.get_indicator(indicators[0].name, later, as_known_at=known_at)
        office.get_dependencies(PB, later, as_known_at=known_at)
        list(office.list_red_flags(plan_id=PB, as_of=later, as_known_at=known_at))
        cards = list(office.list_scorecards(plan_id=PB, as_of=later, as_known_at=known_at))
    assert (then.percent, now.percent, listed[task].percent) == (30, 20, 30)
    assert reported.position <= status.position < corrected.position
    assert (PB in {p.plan_id for p in plans}, plan.plan_id) == (True, PB)
    assert (indicator.name, len(cards) > 0) == (indicators[0].name, True)


def test_an_amendment_with_a_wording_not_machine_judged_returns_its_warning(
    server: ServerThread,
) -> None:
    from tests.conftest import PLANS  # noqa: PLC0415

    source = next(p for p in PLANS if p.name.startswith("001")).read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    line = next(i for i, text in enumerate(lines, 1) if 'value: "90"' in text)
    lines[line - 1] = lines[line - 1].replace('value: "90"', 'value: "6G >30%"')
    edited = "".join(lines).encode()
    with CoordinationClient(
        server.address, "phuoc-binh.vhxh", identity=identity("phuoc-binh.vhxh")
    ) as office:
        verdict = office.amend_plan(edited, "Rà soát chỉ tiêu")
    assert (verdict.outcome, verdict.action) == ("accepted", "amended")
    (warning,) = verdict.warnings
    assert warning.code == "TARGET_NOT_MACHINE_JUDGED"
    assert warning.line == line
    assert warning.field.startswith(f"plan_file:{line}:indicators[")
    assert warning.field.endswith("].targets[0].value")
    # Vietnamese first, then the detail naming the wording
    assert warning.message.startswith(vietnamese("TARGET_NOT_MACHINE_JUDGED") + " — ")
    assert "'6G >30%'" in warning.message
