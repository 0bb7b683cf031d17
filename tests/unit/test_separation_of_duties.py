"""Separation of duties: nobody judges their own work, and a collective acts only
through its members (``SELF_REVIEW``, ``COLLECTIVE_CANNOT_ACT``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain import errors
from domain.items import ItemStatus, Quality, TrackedItem
from domain.plan import Plan
from tests.unit.given import (
    ALL_UNITS,
    HELPER,
    LEAD,
    MEMBER,
    MONITOR,
    OFFICE,
    STEERING,
    STRANGER,
    ctx,
    given,
    given_agency,
    given_indicator,
    given_measured_indicator,
    given_plan,
    given_task,
    plan_header,
    sha,
    then_not_created,
    then_refused,
    when,
)

DOC = sha("quyết định đã ký")
Command = Callable[[TrackedItem], object]


def evidence(by: str = LEAD, digest: str = DOC, acting_as: tuple[str, ...] = ()) -> Command:
    return lambda i: i.submit_evidence(
        ctx(by, acting_as=acting_as),
        sha256=digest,
        uri="s3://evidence/qd-15.pdf",
        media_type="application/pdf",
        description="Quyết định số 15",
    )


def claim(by: str = LEAD, acting_as: tuple[str, ...] = ()) -> Command:
    return lambda i: i.claim_completion(ctx(by, acting_as=acting_as), evidence=[DOC])


def accept(by: str, acting_as: tuple[str, ...] = (), steering: str = STEERING) -> Command:
    return lambda i: i.accept_evidence(
        ctx(by, acting_as=acting_as),
        sha256=DOC,
        coordinator=OFFICE,
        quality=Quality.GOOD,
        steering_committee=steering,
    )


def reject(by: str, acting_as: tuple[str, ...] = (), steering: str = STEERING) -> Command:
    return lambda i: i.reject_evidence(
        ctx(by, acting_as=acting_as),
        sha256=DOC,
        coordinator=OFFICE,
        reason="chưa ký, đóng dấu",
        steering_committee=steering,
    )


def confirm(by: str, acting_as: tuple[str, ...] = (), steering: str = STEERING) -> Command:
    return lambda i: i.confirm_completion(
        ctx(by, acting_as=acting_as), coordinator=OFFICE, steering_committee=steering
    )


JUDGEMENTS = [accept, reject]


def refused_as_self_review(item: TrackedItem, command: Command) -> None:
    then_refused(item, command, errors.SelfReviewError, "SELF_REVIEW")


# A unit that leads or helps with an item never judges it ---------------------------


@pytest.mark.parametrize("judge", JUDGEMENTS)
@pytest.mark.parametrize("unit", [LEAD, HELPER])
def test_a_lead_or_helper_never_judges_evidence_on_its_own_task(
    unit: str, judge: Callable[[str], Command]
) -> None:
    task = given(given_task(), evidence())
    refused_as_self_review(task, judge(unit))


@pytest.mark.parametrize("unit", [LEAD, HELPER])
def test_a_lead_or_helper_never_confirms_its_own_task(unit: str) -> None:
    task = given(given_task(), evidence(), claim(), accept(OFFICE))
    refused_as_self_review(task, confirm(unit))


def test_a_member_of_a_collective_lead_never_judges_its_own_work_on_the_item() -> None:
    task = given(given_task(lead=[ALL_UNITS]), evidence(OFFICE, acting_as=(ALL_UNITS,)))
    refused_as_self_review(task, accept(OFFICE, acting_as=(ALL_UNITS,)))
    given(task, claim(OFFICE, acting_as=(ALL_UNITS,)), accept(STEERING))
    refused_as_self_review(task, confirm(OFFICE, acting_as=(ALL_UNITS,)))


def test_a_member_of_a_collective_lead_judges_the_work_of_another_member() -> None:
    # "Các cơ quan, đơn vị" counts the office (and the steering committee) among its
    # members: barring them all would leave such an item with no reviewer at all
    task = given(given_task(lead=[ALL_UNITS]), evidence(MEMBER, acting_as=(ALL_UNITS,)))
    assert when(task, accept(OFFICE, acting_as=(ALL_UNITS,))) == ["EvidenceAccepted"]


def test_the_lead_of_an_indicator_never_judges_it() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim())
    refused_as_self_review(indicator, accept(LEAD))
    refused_as_self_review(indicator, reject(LEAD))
    refused_as_self_review(indicator, confirm(LEAD))


# Where the monitor also leads, the coordination office reviews (001 KPI 7) ---------


def kpi_7() -> TrackedItem:
    """The health post leads and monitors its own indicator, and claims it done."""
    return given(
        given_measured_indicator(key="7", lead=[LEAD], monitor=[LEAD]), evidence(), claim()
    )


def test_a_lead_that_is_also_the_monitor_never_approves_itself() -> None:
    refused_as_self_review(kpi_7(), accept(LEAD))
    refused_as_self_review(kpi_7(), reject(LEAD))
    indicator = given(kpi_7(), accept(OFFICE))
    refused_as_self_review(indicator, confirm(LEAD))


def test_where_the_monitor_leads_the_coordination_office_reviews() -> None:
    indicator = kpi_7()
    assert when(indicator, accept(OFFICE)) == ["EvidenceAccepted"]
    assert when(indicator, confirm(OFFICE)) == ["CompletionConfirmed"]
    assert indicator.status is ItemStatus.COMPLETED


# Nobody judges evidence it submitted or a completion it claimed -------------------


def test_a_monitor_never_judges_evidence_it_submitted() -> None:
    indicator = given(given_indicator(), evidence(MONITOR))
    refused_as_self_review(indicator, accept(MONITOR))
    refused_as_self_review(indicator, reject(MONITOR))
    assert when(indicator, accept(OFFICE)) == ["EvidenceAccepted"]


def test_a_monitor_never_confirms_a_completion_it_claimed() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(MONITOR), accept(MONITOR))
    refused_as_self_review(indicator, confirm(MONITOR))
    assert when(indicator, confirm(OFFICE)) == ["CompletionConfirmed"]


def test_a_monitor_confirms_a_completion_the_lead_claimed() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(), accept(MONITOR))
    assert when(indicator, confirm(MONITOR)) == ["CompletionConfirmed"]


def test_a_claim_sent_back_no_longer_binds_its_author() -> None:
    indicator = given(given_measured_indicator(), evidence(), claim(MONITOR), reject(OFFICE))
    assert indicator.claimed_by == ""


# The office's own items go to the steering committee ------------------------------


@pytest.mark.parametrize("role", ["lead", "coordinating"])
def test_the_office_never_judges_a_task_it_takes_part_in(role: str) -> None:
    task = given(given_task(**{role: [OFFICE]}), evidence(OFFICE))
    refused_as_self_review(task, accept(OFFICE))
    refused_as_self_review(task, reject(OFFICE))


def test_the_steering_committee_reviews_the_office_own_task() -> None:
    task = given(given_task(lead=[OFFICE], coordinating=[]), evidence(OFFICE), claim(OFFICE))
    assert when(task, accept(STEERING)) == ["EvidenceAccepted"]
    task.collect_events()
    refused_as_self_review(task, confirm(OFFICE))
    assert when(task, confirm(STEERING)) == ["CompletionConfirmed"]
    assert task.status is ItemStatus.COMPLETED


def test_a_steering_committee_the_plan_does_not_name_judges_nothing() -> None:
    task = given(given_task(lead=[OFFICE], coordinating=[]), evidence(OFFICE))
    then_refused(task, accept(STEERING, steering=""), errors.NotReviewerError, "NOT_REVIEWER")
    then_refused(task, accept(STRANGER), errors.NotReviewerError, "NOT_REVIEWER")


def test_the_steering_committee_never_judges_a_task_it_leads() -> None:
    task = given(given_task(lead=[STEERING]), evidence(STEERING))
    refused_as_self_review(task, accept(STEERING))
    assert when(task, accept(OFFICE)) == ["EvidenceAccepted"]


def test_a_plan_names_its_steering_committee() -> None:
    assert given_plan(steering_committee=STEERING).steering_committee == STEERING
    assert given_plan().steering_committee == ""


def test_the_steering_committee_is_not_the_coordination_office() -> None:
    error = then_not_created(
        lambda: Plan.issue(
            ctx(OFFICE),
            id=given_plan().id,
            key="p",
            header=plan_header(steering_committee=OFFICE),
            tasks=[],
            indicators=[],
        ),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )
    assert error.field == "steering_committee"


# A collective acts only through its members ----------------------------------------


def test_a_collective_never_acts_in_its_own_name() -> None:
    collective = given_agency(ALL_UNITS, kind="collective", members=[MEMBER])
    error = then_refused(
        collective,
        lambda a: a.require_may_act(),
        errors.CollectiveCannotActError,
        "COLLECTIVE_CANNOT_ACT",
    )
    assert error.field == "agency"


@pytest.mark.parametrize("kind", ["department", "committee", "school"])
def test_an_agency_that_is_no_collective_acts(kind: str) -> None:
    given_agency(MEMBER, kind=kind).require_may_act()
