"""The views by name, as the command line and the server know them."""

from __future__ import annotations

from domain.errors import NotFoundError
from projections.audit_trail import AuditTrailView
from projections.dependencies import DependencyView
from projections.engine.runner import View, ViewFactory
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
