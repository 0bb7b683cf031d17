"""What a report reads besides the views' rows, from the store as it stood at a log
position: the plan's audit records (corrections, obstacles), the agencies' names
and the earliest signed checkpoint whose tree covers the position — each read up to
that position only, so a report built again as known at the same time is the same.

:func:`report_on_store` builds a report on a store for a process that does not
follow the log (the command line, the demo): the audit trail caught up, the views
replayed up to the position as of the report's day. The API server builds it on the
views it replays itself (``services.grpc.reports``), with :func:`report_from`.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from typing import Any

from domain.clock import ward_day
from domain.reporting import Period
from projections.audit_trail import key_of
from projections.engine.known_at import rows_known_at
from projections.engine.rows import Views
from projections.engine.runner import ProjectionRunner
from projections.engine.source import EventSource
from projections.views import VIEWS, view_named
from services.app.audit import log_tree
from services.app.clock import utc_now
from services.reports.model import Basis, Checkpoint, Report, build_report
from services.reports.periods import check_known_at, report_day

REPORT_VIEWS = ("plans", "task_status", "kpi_attainment", "red_flags", "scorecards")
RECORDED_BY = "SELECT max(key) AS last FROM view_audit_trail.rows WHERE data->>'recorded_at' <= %s"
PLAN_RECORDS = (
    "SELECT data FROM view_audit_trail.rows"
    " WHERE split_part(data->>'subject', '/', 1) = %s AND key <= %s ORDER BY key"
)
AGENCY_RECORDS = (
    "SELECT data FROM view_audit_trail.rows"
    " WHERE data->>'subject' = ANY(%s) AND key <= %s ORDER BY key"
)


def query(app: EventSource, statement: str, params: Any) -> list[dict[str, Any]]:
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def recorded_by(app: EventSource, known_at: dt.datetime) -> int:
    """The last log position recorded at or before ``known_at`` (0: none), from the
    audit trail's table."""
    found = query(app, RECORDED_BY, (known_at.astimezone(dt.UTC).isoformat(),))
    return int(found[0]["last"]) if found and found[0]["last"] else 0


def plan_records(app: EventSource, plan: str, position: int) -> list[dict[str, Any]]:
    """The audit records of ``plan`` and its items up to ``position``, in log order."""
    return [
        {
            **row["data"],
            "occurred_at": dt.datetime.fromisoformat(row["data"]["occurred_at"]),
            "recorded_at": dt.datetime.fromisoformat(row["data"]["recorded_at"]),
        }
        for row in query(app, PLAN_RECORDS, (plan, key_of(position)))
    ]


def agency_names(app: EventSource, position: int, agencies: Iterable[str]) -> dict[str, str]:
    """The Vietnamese name of each of ``agencies`` as recorded up to ``position``."""
    names: dict[str, str] = {}
    subjects = sorted(f"agency/{agency}" for agency in set(agencies))
    for row in query(app, AGENCY_RECORDS, (subjects, key_of(position))):
        record = row["data"]
        agency = record["subject"].removeprefix("agency/")
        body = record["body"]
        profile = body.get("profile") or body.get("changes") or {}
        if profile.get("name_vi"):
            names[agency] = profile["name_vi"]
    return names


def covering_checkpoint(app: EventSource, position: int) -> Checkpoint | None:
    """The earliest signed checkpoint whose tree holds every record up to
    ``position`` (the same one however many are kept later); None when none does yet."""
    tree = log_tree(app.recorder)
    kept = tree.earliest_checkpoint_of(tree.leaves_up_to(position))
    if kept is None:
        return None
    return Checkpoint(kept.size, base64.b64encode(kept.root).decode())


def named_agencies(views: Views, plan: str, records: Iterable[dict[str, Any]]) -> set[str]:
    """Every agency a report of ``plan`` may name: its coordinator, the units its
    items name, who acted on them."""
    found = {str(views["plans"].get(plan, {}).get("header", {}).get("coordinator") or "")}
    for view in ("task_status", "kpi_attainment"):
        for key, row in views[view].items():
            if key.startswith(f"{plan}/"):
                for field in ("lead", "coordinating", "monitor"):
                    found.update(row.get(field) or ())
    found.update(record["actor"] for record in records)
    return found - {""}


def report_from(  # noqa: PLR0917 - the basis, field by field
    app: EventSource,
    views: Views,
    plan: str,
    period: Period,
    day: dt.date,
    position: int,
    known_at: dt.datetime | None,
) -> Report:
    records = plan_records(app, plan, position)
    names = agency_names(app, position, named_agencies(views, plan, records))
    checkpoint = covering_checkpoint(app, position)
    basis = Basis(views, day, position, known_at, checkpoint, records, names)
    return build_report(plan, period, basis)


def report_on_store(
    app: EventSource, plan: str, period: Period, known_at: dt.datetime | None
) -> Report:
    """The report of ``plan`` for ``period`` as known at ``known_at`` (None: now), on
    the store: the audit trail caught up, the views replayed up to the position."""
    now = utc_now()
    check_known_at(known_at, now)
    ProjectionRunner(app, view_named("audit_trail", app)).catch_up()
    moment = known_at or now
    day = report_day(period, ward_day(moment))
    if known_at is None:
        position = app.recorder.max_notification_id() or 0
    else:
        position = recorded_by(app, known_at)
    views = rows_known_at(
        app, {name: VIEWS[name] for name in REPORT_VIEWS}, through=position, as_of=day
    )
    return report_from(app, views, plan, period, day, position, known_at)
