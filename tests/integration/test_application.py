"""The application's commands on a real PostgreSQL: rules hold end to end, refusals
record nothing, and every event keeps who, when and through which channel."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from domain.errors import DomainError
from projections.plans import plan_status
from projections.rollups import by_plan, read_tasks
from projections.views import PLAN_VIEWS, caught_up
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY

PB = "phuoc-binh-2026"
DAY = dt.date(2026, 2, 10)
WHEN = dt.datetime(2026, 2, 10, 9, tzinfo=dt.timezone(dt.timedelta(hours=7)))
DOC = hashlib.sha256(b"signed decision").hexdigest()
EVIDENCE = {
    "sha256": DOC,
    "uri": "s3://e/1.pdf",
    "media_type": "application/pdf",
    "description": "",
}
MEASURE = {"value": "71", "unit": "%", "period": "2026-Q1", "as_of": DAY}


@pytest.fixture
def plans(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    return app


def actor(agency: str, message_id: str = "") -> Actor:
    return Actor(
        agency=agency,
        person="Nguyễn Văn A",
        channel="test",
        message_id=message_id,
        occurred_at=WHEN,
    )


def refused(code: str, command: object) -> None:
    with pytest.raises(DomainError) as error:
        command()  # type: ignore[operator]
    assert error.value.code == code


def test_an_agency_cannot_report_on_another_agencys_task(plans: Ledger) -> None:
    before = plans.item_status(f"{PB}/task/24")["version"]
    refused(
        "NOT_LEAD_UNIT",
        lambda: execute(
            plans,
            "progress_reported",
            f"{PB}/task/24",
            actor("phuoc-binh.vhxh"),
            {"percent": 10, "as_of": DAY},
        ),
    )
    assert plans.item_status(f"{PB}/task/24")["version"] == before


def test_a_member_of_a_collective_lead_reports_as_a_lead(plans: Ledger) -> None:
    # Task 9 is led by "Các cơ quan, đơn vị" (phuoc-binh.all-agencies); the police are members.
    police = actor("phuoc-binh.police")
    execute(plans, "progress_reported", f"{PB}/task/9", police, {"percent": 10, "as_of": DAY})
    assert plans.item_status(f"{PB}/task/9")["percent"] == 10


def test_completion_without_evidence_is_refused(plans: Ledger) -> None:
    office = actor("phuoc-binh.vhxh")
    refused(
        "EVIDENCE_REQUIRED",
        lambda: execute(plans, "completion_claimed", f"{PB}/task/3", office, {}),
    )
    assert plans.item_status(f"{PB}/task/3")["status"] == "not_started"


def test_rejected_evidence_puts_the_item_in_cho_hoan_thien(plans: Ledger) -> None:
    lead, office = actor("phuoc-binh.ttpvhcc"), actor("phuoc-binh.vhxh")
    subject = f"{PB}/task/8"
    execute(plans, "completion_claimed", subject, lead, {}, [EVIDENCE])
    execute(plans, "evidence_rejected", subject, office, {"sha256": DOC, "reason": "Chưa ký"})
    status = plans.item_status(subject)
    assert (status["status"], status["status_vi"]) == ("awaiting_completion", "Chờ hoàn thiện")
    assert status["evidence"] == {DOC: "rejected"}
    assert plan_status(caught_up(plans, PLAN_VIEWS), PB, DAY)["awaiting_completion"] == [
        f"{PB}/task/8"
    ]


def test_only_the_coordination_office_or_monitor_judges_evidence(plans: Ledger) -> None:
    subject = f"{PB}/task/8"
    execute(plans, "evidence_submitted", subject, actor("phuoc-binh.ttpvhcc"), {}, [EVIDENCE])
    police = actor("phuoc-binh.police")
    refused(
        "NOT_REVIEWER",
        lambda: execute(plans, "evidence_accepted", subject, police, {"sha256": DOC}),
    )


def test_the_office_never_reviews_its_own_task_the_steering_committee_does(
    plans: Ledger,
) -> None:
    subject, office = f"{PB}/task/3", actor("phuoc-binh.vhxh")  # the office leads task 3
    execute(plans, "completion_claimed", subject, office, {}, [EVIDENCE])
    refused(
        "SELF_REVIEW", lambda: execute(plans, "evidence_accepted", subject, office, {"sha256": DOC})
    )
    steering = actor("phuoc-binh.steering-committee")
    execute(plans, "evidence_accepted", subject, steering, {"sha256": DOC})
    execute(plans, "completion_confirmed", subject, steering, {})
    assert plans.item_status(subject)["status"] == "completed"


def test_a_collective_never_acts_in_its_own_name(plans: Ledger) -> None:
    collective = actor("phuoc-binh.all-agencies")
    before = plans.item_status(f"{PB}/task/9")["version"]
    refused(
        "COLLECTIVE_CANNOT_ACT",
        lambda: execute(
            plans, "progress_reported", f"{PB}/task/9", collective, {"percent": 10, "as_of": DAY}
        ),
    )
    refused(
        "COLLECTIVE_CANNOT_ACT",
        lambda: execute(plans, "dependency_declared", PB, collective, dependency("21", "24")),
    )
    assert plans.item_status(f"{PB}/task/9")["version"] == before


def dependency(upstream: str, downstream: str) -> dict[str, str]:
    return {"upstream": upstream, "downstream": downstream, "reason": "cần trước"}


def test_a_dependency_cycle_is_refused_and_nothing_is_recorded(plans: Ledger) -> None:
    office = actor("phuoc-binh.vhxh")
    execute(plans, "dependency_declared", PB, office, dependency("21", "24"))
    execute(plans, "dependency_declared", PB, office, dependency("24", "28"))
    version = plans.plan(PB).version
    refused(
        "DEPENDENCY_CYCLE",
        lambda: execute(plans, "dependency_declared", PB, office, dependency("28", "21")),
    )
    assert plans.plan(PB).version == version
    assert plan_status(caught_up(plans, PLAN_VIEWS), PB, DAY)["dependencies"] == [
        ("21", "24"),
        ("24", "28"),
    ]


def test_every_event_keeps_actor_person_times_channel_and_message_id(plans: Ledger) -> None:
    office = actor("phuoc-binh.vhxh", "msg-42")
    execute(plans, "progress_reported", f"{PB}/task/3", office, {"percent": 30, "as_of": DAY})
    event = list(plans.events.get(plans.item(f"{PB}/task/3").id))[-1]
    assert (event.actor, event.person, event.channel, event.message_id) == (
        "phuoc-binh.vhxh",
        "Nguyễn Văn A",
        "test",
        "msg-42",
    )
    assert event.occurred_at == WHEN
    assert event.recorded_at > WHEN
    assert event.as_of == DAY


def test_the_indicator_unit_must_match_the_measurement(plans: Ledger) -> None:
    health, subject = actor("phuoc-binh.health-post"), f"{PB}/indicator/7"
    wrong_unit = {**MEASURE, "value": "3", "unit": "Thứ bậc"}
    refused(
        "UNIT_MISMATCH", lambda: execute(plans, "indicator_measured", subject, health, wrong_unit)
    )
    execute(plans, "indicator_measured", subject, health, {**MEASURE, "value": "71,5"})
    assert plans.item_status(subject)["latest"] == {"2026-Q1": "71.5"}


def test_an_unknown_subject_is_not_found(plans: Ledger) -> None:
    refused("NOT_FOUND", lambda: plans.item_status(f"{PB}/task/99"))
    refused("INVALID_VALUE", lambda: plans.item_status("Not A Ref"))


def test_a_command_with_missing_or_unknown_arguments_names_them(plans: Ledger) -> None:
    office, subject = actor("phuoc-binh.vhxh"), f"{PB}/task/3"
    with pytest.raises(DomainError) as missing:
        execute(plans, "progress_reported", subject, office, {"percent": 5})
    assert (missing.value.code, missing.value.field) == ("INVALID_VALUE", "as_of")
    with pytest.raises(DomainError) as unknown:
        execute(
            plans, "progress_reported", subject, office, {"percent": 5, "as_of": DAY, "mood": "ok"}
        )
    assert (unknown.value.code, unknown.value.field) == ("INVALID_VALUE", "mood")
    refused("INVALID_VALUE", lambda: execute(plans, "teleported", subject, office, {}))


def test_a_task_reported_at_100_without_evidence_awaits_evidence_and_is_not_done(
    plans: Ledger,
) -> None:
    subject = f"{PB}/task/3"  # VHXH's, due Quý I/2026
    execute(
        plans,
        "progress_reported",
        subject,
        actor("phuoc-binh.vhxh"),
        {"percent": 100, "as_of": DAY},
    )
    status = plans.item_status(subject)
    assert (status["status"], status["status_vi"]) == ("awaiting_evidence", "Chờ minh chứng")
    views = caught_up(plans, ("task_status", "red_flags"))
    after_due = dt.date(2026, 4, 15)
    readings = read_tasks(views["task_status"], views["red_flags"], after_due)
    reading = next(r for r in readings if r.name == subject)
    assert (reading.status, reading.percent) == ("awaiting_evidence", 99), "never 100 in a rollup"
    assert "PAST_DEADLINE" in {flag.rule for flag in reading.flags}, "its flags do not clear"
    summary = by_plan(readings)[PB]
    assert (summary["completed"], summary["by_status"]["awaiting_evidence"]) == (0, 1)


def test_a_kpi_is_complete_only_while_its_latest_measurement_meets_the_target(
    plans: Ledger,
) -> None:
    post, office = actor("phuoc-binh.health-post"), actor("phuoc-binh.vhxh")
    subject = f"{PB}/indicator/7"  # ≥ 90 in 2026; the health post leads and monitors it

    def measure(value: str) -> None:
        execute(plans, "indicator_measured", subject, post, {**MEASURE, "value": value})

    def attainment() -> tuple[str, bool | None]:
        row = caught_up(plans, ("kpi_attainment",))["kpi_attainment"][subject]
        return row["status"], row["periods"]["2026"]["met"]

    measure("85")
    refused(
        "KPI_TARGET_NOT_MET",
        lambda: execute(plans, "completion_claimed", subject, post, {}, [EVIDENCE]),
    )
    assert attainment() == ("in_progress", False)
    measure("92")
    execute(plans, "completion_claimed", subject, post, {}, [EVIDENCE])
    execute(plans, "evidence_accepted", subject, office, {"sha256": DOC})  # the office reviews
    execute(plans, "completion_confirmed", subject, office, {})
    assert attainment() == ("completed", True)
    correction = {"measurement_version": 3, "value": "88", "unit": "%", "reason": "nhập nhầm"}
    execute(plans, "measurement_corrected", subject, post, correction)
    assert attainment() == ("in_progress", False), "back in progress, as kpi_attainment says"
