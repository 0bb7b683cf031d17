"""Reminders (đôn đốc): the reports units owe, derived from the log, published to the
outbound topic ``reminders`` for a ward's messaging system to send.

A pass brings the ``red_flags`` view up to the log (the view is itself derived from
the log), reads every REPORT_MISSING flag up on the ward's day (what ``lienthong
missing`` and ``ListMissingReports`` list) and publishes, for each unit it urges, one
``lienthong.v1.Reminder`` keyed by the unit's agency id. There is no dual write:
nothing is recorded in the log; the publisher's only state is what it has published,
tracked in the store (``reminders_sent``: one row per topic and reminder id, written
after the broker acknowledged the batch). A reminder's id is a UUID of the flag's
raise (item, rule, period, day raised) and the unit, so a restart publishes nothing it
had tracked, and what it published but had not tracked yet (a crash between the
broker's acknowledgement and the store's commit) goes out again with the same id,
for consumers to dedupe. A flag that was raised and cleared while the publisher was
stopped is not reminded of: only what is owed on the day is.

Passes run when the log has grown or the ward's day has changed, at most every
``LIENTHONG_REMINDERS_SECONDS`` (default 30); the store or the broker away, the pass is
tried again with backoff, as the relay does.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from kafka.errors import KafkaError
from lienthong.v1 import reminders_pb2
from psycopg import sql

from domain.ids import NAMESPACE
from domain.reporting import period_from_label
from projections.engine.runner import ProjectionRunner, postgres_recorder
from projections.red_flags import item_flags
from projections.views import view_named
from services.app.clock import ward_today
from services.app.ledger import Ledger
from services.kafka.topics import REMINDERS, Producer
from services.kafka.vitals import Vitals
from services.metrics import REMINDED
from services.store.database import STORE_ERRORS

RULE = "REPORT_MISSING"
SECONDS_ENV = "LIENTHONG_REMINDERS_SECONDS"
DEFAULT_SECONDS = 30.0
POLL_SECONDS = 0.2
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
log = logging.getLogger(__name__)

CREATE = (
    "CREATE TABLE IF NOT EXISTS {sent} (topic text NOT NULL, reminder_id uuid NOT NULL,"
    " agency_id text NOT NULL, flag_id text NOT NULL,"
    " sent_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, reminder_id))"
)


@dataclass(frozen=True)
class Due:
    """One reminder owed: a REPORT_MISSING raise on an item, for one of its units."""

    subject: str
    plan_id: str
    unit: str
    period: str
    raised_on: str
    version: int

    @property
    def flag_id(self) -> str:
        return f"{self.subject}#{RULE}@{self.period}@{self.raised_on}"

    @property
    def reminder_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"reminder:{self.flag_id}:{self.unit}"))

    def message(self) -> reminders_pb2.Reminder:
        due = period_from_label(self.period).due
        return reminders_pb2.Reminder(
            reminder_id=self.reminder_id,
            code=RULE,
            agency_id=self.unit,
            subject=self.subject,
            plan_id=self.plan_id,
            period=self.period,
            due=due.isoformat(),
            raised_on=self.raised_on,
            rule_version=self.version,
            flag_id=self.flag_id,
            text=text_vi(self.unit, self.subject, self.plan_id, self.period, due),
        )


def period_vi(label: str) -> str:
    """ "tháng 03/2026", "quý I/2026", "6 tháng đầu năm 2026", "năm 2026"."""
    year, _, part = label.partition("-")
    if not part:
        return f"năm {year}"
    if part.startswith("Q"):
        return f"quý {('I', 'II', 'III', 'IV')[int(part[1:]) - 1]}/{year}"
    if part.startswith("H"):
        return f"6 tháng {'đầu' if part == 'H1' else 'cuối'} năm {year}"
    return f"tháng {part}/{year}"


def text_vi(unit: str, subject: str, plan: str, period: str, due: date) -> str:
    kind, _, key = subject.removeprefix(f"{plan}/").partition("/")
    item = f"{'chỉ tiêu' if kind == 'indicator' else 'nhiệm vụ'} {key}"
    return (
        f"Đề nghị {unit} gửi báo cáo {period_vi(period)} về {item} của kế hoạch {plan}: "
        f"hạn nộp ngày {due:%d/%m/%Y} đã qua mà chưa nhận được báo cáo."
    )


def owed(rows: dict[str, Any], today: date) -> list[Due]:
    """Every reminder owed on ``today``: per REPORT_MISSING flag up, per unit it urges."""
    found = []
    for name in sorted(rows):
        row = rows[name]
        if "/" not in name or row["group"]:
            continue
        for span in item_flags(rows, name, today)[1]:
            if span.rule != RULE or span.cleared_on is not None:
                continue
            found += [
                Due(name, row["plan"], unit, span.period, span.raised_on.isoformat(), span.version)
                for unit in span.units
            ]
    return found


class Reminders:
    """Publishes the reminders owed, once each (see the module)."""

    def __init__(
        self,
        app: Ledger,
        producer: Producer,
        prefix: str = "",
        today: Callable[[], date] = ward_today,
    ) -> None:
        self.producer = producer
        self.topic = prefix + REMINDERS
        self.today = today
        self.runner = ProjectionRunner(app, view_named("red_flags", app))
        self.datastore = postgres_recorder(app).datastore
        self.sent_table = sql.Identifier(self.datastore.schema, "reminders_sent")
        self.last: tuple[int, date] | None = None
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('lienthong.reminders'))")
            cursor.execute(sql.SQL(CREATE).format(sent=self.sent_table))

    def sent(self) -> set[str]:
        """The ids of the reminders published to this topic and tracked."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                sql.SQL("SELECT reminder_id FROM {} WHERE topic = %s").format(self.sent_table),
                (self.topic,),
            )
            return {str(row["reminder_id"]) for row in cursor.fetchall()}

    def step(self, *, force: bool = False) -> int:
        """One pass (skipped when neither the log nor the day moved since the last,
        unless ``force``); returns how many reminders it published."""
        self.runner.catch_up()
        today = self.today()
        basis = (self.runner.position(), today)
        if basis == self.last and not force:
            return 0
        already = self.sent()
        new = [due for due in owed(self.runner.rows(), today) if due.reminder_id not in already]
        for due in new:
            self.producer.send(
                self.topic,
                value=due.message().SerializeToString(),
                key=due.unit.encode(),
                headers=[("reminder_id", due.reminder_id.encode()), ("code", RULE.encode())],
            )
        if new:
            self.producer.flush()
            self.track(new)
            REMINDED.inc(len(new))
        log.info(
            "reminders pass on %s at log position %d: %d owed, %d new published to %s",
            today,
            basis[0],
            len(already) + len(new),
            len(new),
            self.topic,
        )
        self.last = basis
        return len(new)

    def track(self, published: list[Due]) -> None:
        statement = sql.SQL(
            "INSERT INTO {} (topic, reminder_id, agency_id, flag_id) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(self.sent_table)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.executemany(
                statement, [(self.topic, d.reminder_id, d.unit, d.flag_id) for d in published]
            )

    def run(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        every: float | None = None,
        health: Vitals | None = None,
    ) -> None:
        """Passes until ``should_stop()``, through outages of the store or the broker
        (``health``: told how it goes; its period is ``every``)."""
        every = float(os.environ.get(SECONDS_ENV, DEFAULT_SECONDS)) if every is None else every
        health = health or Vitals()
        health.period = every
        delay = RETRY_FIRST_SECONDS
        while not should_stop():
            try:
                self.step()
            except (*STORE_ERRORS, KafkaError) as error:
                health.failed(error)
                log.exception("publishing reminders failed; trying again in %.1f s", delay)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            health.done()
            delay = RETRY_FIRST_SECONDS
            until = time.monotonic() + every
            while time.monotonic() < until and not should_stop():
                time.sleep(POLL_SECONDS)
