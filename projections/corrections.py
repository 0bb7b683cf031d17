"""What each correction replaced: a pure function over one subject's audit records.

A correction is a record that changes a number or a definition already on record:
a corrected progress report (``ReportCorrected``), a corrected measurement
(``MeasurementCorrected``), a moved deadline (``DeadlineChanged``) and an amendment of
a task, an indicator or a plan's header and list of items (``Amended``). For each,
:func:`corrections` says the values just before it — the earlier corrections of the
same report, measurement or field applied — and after it.

Values are text (:func:`text`): numbers in decimal, dates ``YYYY-MM-DD``, lists and
objects JSON, absent ``""``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from projections.engine.audit_log import (
    DEADLINE_CHANGED,
    ITEM_AMENDED,
    MEASUREMENT_CORRECTED,
    PLAN_AMENDED,
    REPORT_CORRECTED,
    Record,
)

REPORTED = "lienthong.task.ProgressReported"
MEASURED = "lienthong.indicator.Measured"
DEFINED = ("lienthong.task.Assigned", "lienthong.indicator.Defined")
ISSUED = "lienthong.plan.Issued"


def text(value: Any) -> str:
    """A value as a correction shows it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class Subject:
    """What one subject's records said so far: its reports, measurements and
    definition (a plan's header and lists of items)."""

    def __init__(self) -> None:
        self.reports: dict[int, dict[str, Any]] = {}  # version → percent, as_of
        self.measurements: dict[int, dict[str, Any]] = {}  # version → value, unit, period
        self.definition: dict[str, Any] = {}

    def correction(self, record: Record) -> Record | None:
        """The correction ``record`` makes, with what it replaced (None when it is
        no correction); the subject then holds what it says."""
        topic, body = record["topic"], record["body"]
        changes: list[tuple[str, str, str]] = []
        found: Record = {"corrects_version": 0, "as_of": "", "period": ""}
        if topic == REPORT_CORRECTED:
            report = self.reports.setdefault(body["report_version"], {})
            changes.append(("percent", text(report.get("percent")), text(body["percent"])))
            report["percent"] = body["percent"]
            found.update(corrects_version=body["report_version"], as_of=text(report.get("as_of")))
        elif topic == MEASUREMENT_CORRECTED:
            measured = self.measurements.setdefault(body["measurement_version"], {})
            for field in ("value", "unit"):  # the value always, the unit if it changed
                was, now = text(measured.get(field)), text(body[field])
                if field == "value" or was != now:
                    changes.append((field, was, now))
                measured[field] = body[field]
            found.update(
                corrects_version=body["measurement_version"], period=text(measured.get("period"))
            )
        elif topic == DEADLINE_CHANGED:
            changes.append(("deadline", text(self.definition.get("deadline")), body["deadline"]))
            self.definition["deadline"] = body["deadline"]
        elif topic in ITEM_AMENDED or topic == PLAN_AMENDED:
            new = dict(body["changes"])
            if topic == PLAN_AMENDED:
                new.update(tasks=body["tasks"], indicators=body["indicators"])
            for field, after in sorted(new.items()):
                before = self.definition.get(field)
                if text(before) != text(after):
                    changes.append((field, text(before), text(after)))
                self.definition[field] = after
        else:
            self.learn(record)
            return None
        return {**found, **details(record), "changes": changes}

    def learn(self, record: Record) -> None:
        """What a record that corrects nothing says of the subject."""
        topic, body = record["topic"], record["body"]
        if topic == REPORTED:
            self.reports[record["version"]] = {"percent": body["percent"], "as_of": body["as_of"]}
        elif topic == MEASURED:
            self.measurements[record["version"]] = {
                field: body[field] for field in ("value", "unit", "period")
            }
        elif topic in DEFINED:
            self.definition = dict(body["definition"])
        elif topic == ISSUED:
            self.definition = {
                **body["header"],
                "tasks": body["tasks"],
                "indicators": body["indicators"],
            }


def details(record: Record) -> Record:
    """Who made a correction, when, where in the log, and why."""
    body = record["body"]
    return {
        "position": record["position"],
        "subject": record["subject"],
        "topic": record["topic"],
        "actor": record["actor"],
        "person": record["person"],
        "recorded_at": record["recorded_at"],
        "occurred_at": record["occurred_at"],
        "reason": body.get("reason", ""),
        "document": body.get("document", ""),
        "note": body.get("note", ""),
    }


def corrections(records: Iterable[Record]) -> list[Record]:
    """Every correction among ``records`` (of one subject, oldest first), each with
    the values it replaced and those it set."""
    subject = Subject()
    found = (subject.correction(record) for record in records)
    return [correction for correction in found if correction is not None]
