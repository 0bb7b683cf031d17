"""The views by name, as the command line and the server know them."""

from __future__ import annotations

from collections.abc import Iterable

from domain.errors import NotFoundError
from projections.audit_trail import AuditTrailView
from projections.dependencies import DependencyView
from projections.engine.replay import share_replay
from projections.engine.rows import Views
from projections.engine.runner import ProjectionRunner, View, ViewFactory, catch_up_all
from projections.engine.source import EventSource
from projections.kpi_attainment import KpiAttainmentView
from projections.plans import PlanView
from projections.red_flags import RedFlagView
from projections.scorecards import ScorecardView
from projections.task_status import TaskStatusView

VIEWS: dict[str, ViewFactory] = {
    TaskStatusView.name: TaskStatusView,
    AuditTrailView.name: AuditTrailView,
    KpiAttainmentView.name: KpiAttainmentView,
    DependencyView.name: DependencyView,
    ScorecardView.name: ScorecardView,
    RedFlagView.name: RedFlagView,
    PlanView.name: PlanView,
}


def view_named(name: str, app: EventSource) -> View:
    factory = VIEWS.get(name)
    if factory is None:
        msg = f"no view {name!r}; views: {', '.join(sorted(VIEWS))}"
        raise NotFoundError(msg, field="view")
    return factory(app)


PLAN_VIEWS = ("plans", "task_status", "kpi_attainment")  # what a plan's queries read


def caught_up(app: EventSource, names: Iterable[str]) -> Views:
    """The named views brought up to the log (as ``lienthong projections catch-up``
    does, in one pass) and read back from their tables — the rows the API's live
    views hold, for a process that does not follow the log."""
    runners = [ProjectionRunner(app, view_named(name, app)) for name in names]
    share_replay([runner.view for runner in runners])
    catch_up_all(runners)
    return {runner.view.name: runner.rows() for runner in runners}
