"""The rules of a plan header (kế hoạch) and the dependencies between its tasks."""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from domain import errors
from domain.context import Context
from domain.ids import plan_id
from domain.plan import Plan
from tests.unit.given import (
    LEAD,
    OFFICE,
    PLAN,
    SECOND_LEAD,
    assert_provenance,
    ctx,
    given,
    given_plan,
    new_events,
    plan_header,
    then_not_created,
    then_refused,
    when,
)

PlanCommand = Callable[[Plan], object]
KEYS = ("a", "b", "c", "d", "e", "f")


def depends(
    upstream: str, downstream: str, by: str = OFFICE, reason: str = "trước sau"
) -> PlanCommand:
    """``downstream`` cannot finish before ``upstream`` has."""
    return lambda p: p.declare_dependency(
        ctx(by), upstream=upstream, downstream=downstream, reason=reason
    )


def withdraw(
    upstream: str, downstream: str, by: str = OFFICE, reason: str = "không cần"
) -> PlanCommand:
    return lambda p: p.withdraw_dependency(
        ctx(by), upstream=upstream, downstream=downstream, reason=reason
    )


def amend(
    by: str = OFFICE,
    tasks: list[str] | None = None,
    reason: str = "rà soát 6 tháng",
    **header: Any,
) -> PlanCommand:
    return lambda p: p.amend(
        ctx(by),
        header=plan_header(**header),
        tasks=list(KEYS[:3]) if tasks is None else tasks,
        indicators=["1"],
        reason=reason,
        document="KH 09 sửa đổi",
    )


# Issuing ---------------------------------------------------------------------------


def test_issuing_a_plan_records_its_header_and_items() -> None:
    plan = Plan.issue(
        ctx(OFFICE), id=plan_id(PLAN), key=PLAN, header=plan_header(), tasks=["a"], indicators=["1"]
    )
    assert [type(e).__name__ for e in plan.pending_events] == ["Issued"]
    assert (plan.key, plan.coordinator, plan.tasks, plan.indicators) == (PLAN, OFFICE, ["a"], ["1"])
    assert plan.dependencies == set()


def test_only_the_coordination_office_a_plan_names_issues_it() -> None:
    then_not_created(
        lambda: Plan.issue(
            ctx(LEAD), id=plan_id(PLAN), key=PLAN, header=plan_header(), tasks=[], indicators=[]
        ),
        errors.NotCoordinatorError,
        "NOT_COORDINATOR",
    )


def test_a_plan_needs_a_coordination_office() -> None:
    error = then_not_created(
        lambda: given_plan(coordinator=""), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "coordinator"


def test_a_plan_header_refuses_fields_a_plan_does_not_have() -> None:
    error = then_not_created(
        lambda: given_plan(signed_by="Chủ tịch"), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "signed_by"


def test_a_plan_reports_only_in_known_periods() -> None:
    error = then_not_created(
        lambda: given_plan(reporting=["monthly", "weekly"]),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )
    assert error.field == "reporting"
    assert "weekly" in error.message


# Dependencies ----------------------------------------------------------------------


def test_the_coordination_office_declares_a_dependency() -> None:
    plan = given_plan()
    assert when(plan, depends("a", "b")) == ["DependencyDeclared"]
    assert plan.dependencies == {("a", "b")}


def test_a_diamond_of_dependencies_is_no_cycle() -> None:
    plan = given(given_plan(KEYS), depends("a", "b"), depends("a", "c"), depends("b", "d"))
    assert when(plan, depends("c", "d")) == ["DependencyDeclared"]


@pytest.mark.parametrize(
    ("history", "closing", "path"),
    [
        ([], ("a", "a"), "a → a"),
        ([("a", "b")], ("b", "a"), "b → a → b"),
        ([("a", "b"), ("b", "c")], ("c", "a"), "c → a → b → c"),
    ],
    ids=["a on itself", "a→b then b→a", "a→b→c then c→a"],
)
def test_a_dependency_may_not_close_a_cycle(
    history: list[tuple[str, str]], closing: tuple[str, str], path: str
) -> None:
    plan = given(given_plan(), *(depends(u, d) for u, d in history))
    error = then_refused(plan, depends(*closing), errors.DependencyCycleError, "DEPENDENCY_CYCLE")
    assert path in error.message
    assert error.field == "upstream"


def test_a_longer_cycle_is_named_along_its_whole_path() -> None:
    plan = given(
        given_plan(KEYS), depends("a", "b"), depends("b", "c"), depends("c", "d"), depends("a", "e")
    )
    error = then_refused(plan, depends("d", "a"), errors.DependencyCycleError, "DEPENDENCY_CYCLE")
    assert "d → a → b → c → d" in error.message


@pytest.mark.parametrize(
    ("upstream", "downstream", "field"),
    [("z", "a", "upstream"), ("a", "z", "downstream")],
)
def test_a_dependency_on_a_task_the_plan_does_not_have_is_refused(
    upstream: str, downstream: str, field: str
) -> None:
    error = then_refused(
        given_plan(), depends(upstream, downstream), errors.NotFoundError, "NOT_FOUND"
    )
    assert error.field == field
    assert "'z'" in error.message


def test_the_same_dependency_is_not_declared_twice() -> None:
    plan = given(given_plan(), depends("a", "b"))
    then_refused(plan, depends("a", "b"), errors.DuplicateDependencyError, "DEPENDENCY_DUPLICATE")


@pytest.mark.parametrize("reason", ["", "  "])
def test_a_dependency_needs_a_reason(reason: str) -> None:
    then_refused(
        given_plan(), depends("a", "b", reason=reason), errors.MissingReasonError, "REASON_REQUIRED"
    )


@pytest.mark.parametrize("unit", [LEAD, SECOND_LEAD])
def test_only_the_coordination_office_declares_a_dependency(unit: str) -> None:
    error = then_refused(
        given_plan(), depends("a", "b", by=unit), errors.NotCoordinatorError, "NOT_COORDINATOR"
    )
    assert error.field == "agency"


def test_the_coordination_office_withdraws_a_dependency() -> None:
    plan = given(given_plan(), depends("a", "b"))
    assert when(plan, withdraw("a", "b")) == ["DependencyWithdrawn"]
    assert plan.dependencies == set()


def test_once_withdrawn_the_reverse_dependency_may_be_declared() -> None:
    plan = given(given_plan(), depends("a", "b"), withdraw("a", "b"))
    assert when(plan, depends("b", "a")) == ["DependencyDeclared"]


@pytest.mark.parametrize(("upstream", "downstream"), [("b", "a"), ("a", "c"), ("z", "b")])
def test_a_dependency_never_declared_cannot_be_withdrawn(upstream: str, downstream: str) -> None:
    plan = given(given_plan(), depends("a", "b"))
    then_refused(
        plan, withdraw(upstream, downstream), errors.UnknownDependencyError, "DEPENDENCY_UNKNOWN"
    )


def test_only_the_coordination_office_withdraws_a_dependency() -> None:
    plan = given(given_plan(), depends("a", "b"))
    then_refused(plan, withdraw("a", "b", by=LEAD), errors.NotCoordinatorError, "NOT_COORDINATOR")


def test_withdrawing_a_dependency_needs_a_reason() -> None:
    plan = given(given_plan(), depends("a", "b"))
    then_refused(plan, withdraw("a", "b", reason=""), errors.MissingReasonError, "REASON_REQUIRED")


# Amendment -------------------------------------------------------------------------


def test_an_amendment_records_only_the_header_fields_that_changed() -> None:
    plan = given_plan()
    assert amend(title="Kế hoạch sửa đổi", note="rà soát")(plan) is True
    assert [type(e).__name__ for e in plan.pending_events] == ["Amended"]
    amended = plan.pending_events[0]
    assert isinstance(amended, Plan.Amended)
    assert amended.changes == {"title": "Kế hoạch sửa đổi", "note": "rà soát"}
    assert (amended.reason, amended.document) == ("rà soát 6 tháng", "KH 09 sửa đổi")
    assert plan.header["title"] == "Kế hoạch sửa đổi"
    assert plan.header["number"] == "09/KH-UBND"


def test_an_amendment_that_changes_nothing_returns_false_and_records_nothing() -> None:
    plan = given_plan()
    result = plan.amend(
        ctx(OFFICE),
        header=plan_header(),
        tasks=["a", "b", "c"],
        indicators=["1"],
        reason="r",
        document="d",
    )
    assert result is False
    assert plan.pending_events == []


def test_an_amendment_with_the_same_header_records_nothing() -> None:
    plan = given_plan()
    assert (
        plan.amend(
            ctx(OFFICE),
            header=dict(plan.header),
            tasks=["a", "b", "c"],
            indicators=["1"],
            reason="r",
            document="d",
        )
        is False
    )


def test_an_amendment_of_the_items_alone_records_no_header_change() -> None:
    plan = given_plan()
    assert when(plan, amend(tasks=["a", "b", "c", "d"])) == ["Amended"]
    amended = plan.pending_events[0]
    assert isinstance(amended, Plan.Amended)
    assert amended.changes == {}
    assert plan.tasks == ["a", "b", "c", "d"]


def test_only_the_coordination_office_amends_a_plan() -> None:
    then_refused(
        given_plan(), amend(by=LEAD, title="x"), errors.NotCoordinatorError, "NOT_COORDINATOR"
    )


def test_an_amendment_that_changes_something_needs_a_reason() -> None:
    then_refused(
        given_plan(), amend(title="x", reason=" "), errors.MissingReasonError, "REASON_REQUIRED"
    )


def test_an_amendment_keeps_the_header_valid() -> None:
    then_refused(
        given_plan(), amend(reporting=["daily"]), errors.InvalidValueError, "INVALID_VALUE"
    )
    then_refused(given_plan(), amend(signed_by="x"), errors.InvalidValueError, "INVALID_VALUE")


def test_after_a_new_coordinator_is_named_only_it_declares_dependencies() -> None:
    plan = given(given_plan(), amend(coordinator=SECOND_LEAD))
    then_refused(plan, depends("a", "b", by=OFFICE), errors.NotCoordinatorError, "NOT_COORDINATOR")
    assert when(plan, depends("a", "b", by=SECOND_LEAD)) == ["DependencyDeclared"]


# Provenance ------------------------------------------------------------------------


def test_every_kind_of_plan_event_carries_its_provenance() -> None:
    contexts = [
        ctx(OFFICE, day=f"2026-05-0{n}", person=f"Cán bộ {n}", channel="cli") for n in range(1, 6)
    ]
    plan = Plan.issue(
        contexts[0],
        id=plan_id(PLAN),
        key=PLAN,
        header=plan_header(),
        tasks=["a", "b"],
        indicators=[],
    )
    plan.amend(
        contexts[1],
        header=plan_header(note="n"),
        tasks=["a", "b"],
        indicators=[],
        reason="r",
        document="d",
    )
    plan.declare_dependency(contexts[2], upstream="a", downstream="b", reason="r")
    plan.withdraw_dependency(contexts[3], upstream="a", downstream="b", reason="r")
    events = new_events(plan)
    assert [type(e).__name__ for e in events] == [
        "Issued",
        "Amended",
        "DependencyDeclared",
        "DependencyWithdrawn",
    ]
    for event, context in zip(events, contexts, strict=False):
        assert_provenance(event, context)


# Property: no cycle is ever accepted --------------------------------------------------

attempts = st.lists(
    st.tuples(st.booleans(), st.sampled_from(KEYS), st.sampled_from(KEYS)),
    max_size=40,
)


def is_acyclic(edges: set[tuple[str, str]]) -> bool:
    """Independent of the domain: can the edges be put in a topological order?"""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for upstream, downstream in edges:
        sorter.add(downstream, upstream)
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@for_all(attempts)
def test_the_accepted_dependencies_never_contain_a_cycle(
    steps: list[tuple[bool, str, str]],
) -> None:
    plan = given_plan(KEYS)
    accepted: set[tuple[str, str]] = set()
    office: Context = ctx(OFFICE)
    for declaring, upstream, downstream in steps:
        edge = (upstream, downstream)
        try:
            if declaring:
                plan.declare_dependency(
                    office, upstream=upstream, downstream=downstream, reason="r"
                )
                accepted.add(edge)
            else:
                plan.withdraw_dependency(
                    office, upstream=upstream, downstream=downstream, reason="r"
                )
                accepted.discard(edge)
        except errors.DependencyCycleError:
            assert declaring
            assert not is_acyclic(accepted | {edge}), f"{edge} refused but closes no cycle"
        except errors.DuplicateDependencyError:
            assert declaring
            assert edge in accepted
        except errors.UnknownDependencyError:
            assert not declaring
            assert edge not in accepted
        else:
            assert is_acyclic(accepted)
        assert plan.dependencies == accepted
    assert is_acyclic(plan.dependencies)
