"""The auditor's questions, answered from the audit trail view's table
(``view_audit_trail.rows``, indexed: :data:`projections.engine.live.AUDIT_INDEXES`),
the log's replay and its kept checkpoints: the records of a subject, a plan or an
agency (late ones only, if asked); the corrections recorded after a time, with what
they replaced; and the inspection — "what did the office know on 30 June, and did
anyone change a number afterwards?" — the same for the API and the command line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from domain.errors import NotFoundError
from projections.audit_trail import key_of
from projections.corrections import corrections
from projections.engine.audit_log import Record
from projections.engine.known_at import rows_known_at
from projections.engine.live import CORRECTIONS_ONLY, LATE_ONLY
from projections.engine.runner import ProjectionRunner
from projections.plans import plan_status
from projections.views import VIEWS, view_named
from services.app.audit import log_tree
from services.app.ledger import Ledger
from services.store.tlog import Kept

Window = tuple[dt.datetime | None, dt.datetime | None]  # recorded from (inclusive), to (not)
INSTANT = dt.timedelta(microseconds=1)
# the expressions the audit trail's table is indexed on, by the request field naming them
WHERE = {
    "subject": sql.SQL("data->>'subject'"),
    "plan_id": sql.SQL("split_part(data->>'subject', '/', 1)"),
    "agency_id": sql.SQL("data->>'actor'"),
}
LATE = sql.SQL(f" AND {LATE_ONLY}")
EVENTS = sql.SQL(
    "SELECT key, data FROM view_audit_trail.rows WHERE {} = %(value)s AND key > %(after)s"
    " AND (%(begin)s::text IS NULL OR data->>'recorded_at' >= %(begin)s)"
    " AND (%(end)s::text IS NULL OR data->>'recorded_at' < %(end)s){}"
    " ORDER BY key LIMIT %(limit)s"
)
CORRECTIONS = sql.SQL(
    "SELECT key, data FROM view_audit_trail.rows WHERE {} = %(value)s AND key > %(after)s"
    " AND {}"
    " AND (%(begin)s::text IS NULL OR data->>'recorded_at' >= %(begin)s)"
    " AND (%(end)s::text IS NULL OR data->>'recorded_at' < %(end)s)"
    " ORDER BY key LIMIT %(limit)s"
)
HISTORIES = (
    "SELECT data FROM view_audit_trail.rows WHERE data->>'subject' = ANY(%s) AND key <= %s"
    " ORDER BY key"
)


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def record_of(row: Record) -> Record:
    """An audit trail row with its times as datetimes."""
    return {
        **row,
        "occurred_at": dt.datetime.fromisoformat(row["occurred_at"]),
        "recorded_at": dt.datetime.fromisoformat(row["recorded_at"]),
    }


def query(app: Ledger, statement: sql.Composable | str, params: Any) -> list[dict[str, Any]]:
    with app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def page_params(value: str, after: int, window: Window, size: int) -> dict[str, Any]:
    """The parameters of a page of records about ``value``: after position ``after``,
    recorded in ``window``, ``size`` of them (and one more, to tell whether there are)."""
    return {
        "value": value,
        "after": key_of(after),
        "begin": iso(window[0]),
        "end": iso(window[1]),
        "limit": size + 1,
    }


def events(  # noqa: PLR0917 - the request's fields, in its order
    app: Ledger,
    field: str,
    value: str,
    after: int,
    window: Window,
    size: int,
    *,
    late_only: bool = False,
) -> tuple[list[Record], bool]:
    """Records whose ``field`` (subject, plan_id or agency_id) is ``value``, after
    position ``after``, recorded in ``window``, late ones only if ``late_only``; and
    whether there are more."""
    params = page_params(value, after, window, size)
    statement = EVENTS.format(WHERE[field], LATE if late_only else sql.SQL(""))
    rows = [record_of(row["data"]) for row in query(app, statement, params)]
    return rows[:size], len(rows) > size


def corrections_after(  # noqa: PLR0917 - the request's fields, in its order
    app: Ledger, field: str, value: str, after: int, window: Window, size: int
) -> tuple[list[Record], bool]:
    """The corrections (:mod:`projections.corrections`) of a plan (``plan_id``) or by
    an agency (``agency_id``), after position ``after`` and recorded in ``window``,
    each with what it replaced; and whether there are more."""
    params = page_params(value, after, window, size)
    rows = [
        row["data"]
        for row in query(app, CORRECTIONS.format(WHERE[field], sql.SQL(CORRECTIONS_ONLY)), params)
    ]
    page = rows[:size]
    if not page:
        return [], False
    wanted = {row["position"] for row in page}
    subjects = sorted({row["subject"] for row in page})
    histories: dict[str, list[Record]] = {}
    for row in query(app, HISTORIES, (subjects, key_of(page[-1]["position"]))):
        histories.setdefault(row["data"]["subject"], []).append(row["data"])
    found = {
        correction["position"]: record_of(correction)
        for history in histories.values()
        for correction in corrections(history)
        if correction["position"] in wanted
    }
    return [found[row["position"]] for row in page], len(rows) > size


Pages = Callable[[int, int], tuple[list[Record], bool]]  # (after, size) → page, more


def every(fetch: Pages) -> list[Record]:
    """Every page of ``fetch(after, size)``, in order."""
    found: list[Record] = []
    more = True
    while more:
        page, more = fetch(found[-1]["position"] if found else 0, 500)
        found += page
    return found


def status_known_at(app: Ledger, plan: str, day: dt.date, known_at: dt.datetime) -> dict[str, Any]:
    """The plan's consolidated status on ``day`` from everything recorded up to
    ``known_at`` (facts about later days left out)."""
    names = ("plans", "task_status", "kpi_attainment")
    views = rows_known_at(app, {name: VIEWS[name] for name in names}, known_at, as_of=day)
    if plan not in views["plans"]:
        raise NotFoundError(f"plan {plan} was not recorded by then", field="plan_id")
    found = query(
        app,
        "SELECT max(key) AS last FROM view_audit_trail.rows"
        " WHERE split_part(data->>'subject', '/', 1) = %s AND data->>'recorded_at' <= %s",
        (plan, iso(known_at)),
    )
    position = int(found[0]["last"]) if found and found[0]["last"] else 0
    return plan_status(views, plan, day, position)


@dataclass(frozen=True)
class Coverage:
    """How many leaves of the log's tree hold everything recorded up to a time, and
    the earliest kept checkpoint whose tree holds them (None: none yet)."""

    leaves: int
    checkpoint: Kept | None


def coverage(app: Ledger, known_at: dt.datetime) -> Coverage:
    found = query(
        app,
        "SELECT max(key) AS last FROM view_audit_trail.rows WHERE data->>'recorded_at' <= %s",
        (iso(known_at),),
    )
    last = int(found[0]["last"]) if found and found[0]["last"] else 0
    tree = log_tree(app.recorder)
    leaves = tree.leaves_up_to(last)
    return Coverage(leaves, tree.earliest_checkpoint_of(leaves))


@dataclass(frozen=True)
class Inspection:
    status: dict[str, Any]
    corrections_after: list[Record]
    late_reports: list[Record]
    coverage: Coverage


def inspect(app: Ledger, plan: str, day: dt.date, known_at: dt.datetime) -> Inspection:
    """The inspector's question about ``plan`` on ``day``, as known at ``known_at``:
    its status then; every correction recorded after; the late records known by
    then; and the signed checkpoint that covers everything recorded by then."""
    return Inspection(
        status=status_known_at(app, plan, day, known_at),
        corrections_after=every(
            lambda after, size: corrections_after(
                app, "plan_id", plan, after, (known_at + INSTANT, None), size
            )
        ),
        late_reports=every(
            lambda after, size: events(
                app, "plan_id", plan, after, (None, known_at + INSTANT), size, late_only=True
            )
        ),
        coverage=coverage(app, known_at),
    )


def caught_up_trail(app: Ledger) -> None:
    """The audit trail view brought up to the log, for a process that does not follow
    it (the command line)."""
    ProjectionRunner(app, view_named("audit_trail", app)).catch_up()
