"""Failover under load, with real processes: two writer processes submit progress
reports to the primary (each acknowledged once committed there AND applied on the
synchronous standby); the primary is killed with -9 mid-load; the standby is
promoted and the writers pointed at it; they carry on. On the promoted server every
acknowledged event id is there exactly once (its report and its receipt), and a
checkpoint of the log signed on the primary before the kill still verifies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from domain.submission import submission_id
from services.app.audit import LOG_KEY_FILE_ENV
from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.cli import main
from services.store import replication
from services.store.database import DATABASE_URL_ENV, database_url
from services.store.recorder import events_table
from tests.conftest import PLANS, REGISTRY, ROOT
from tests.replication.conftest import DEADLINE, Pair, wait_until

WRITERS = (
    ("phuoc-binh-2026/task/9", "phuoc-binh.police"),  # task 9: every agency leads it
    ("phuoc-binh-2026/task/24", "phuoc-binh.health-post"),
)
BEFORE = 20  # acknowledged per writer before the checkpoint, and again before the kill
AFTER = 20  # acknowledged per writer by the promoted server


class Writer:
    """``python -m tests.replication.writer`` and the event ids it acknowledged."""

    def __init__(self, url_file: Path, subject: str, agency: str, log: Path) -> None:
        self.agency = agency
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.replication.writer", str(url_file), subject, agency],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
            text=True,
        )
        self.acked: list[str] = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.acked.append(line.strip())

    def where(self) -> str:
        """What the writer printed on standard error, and where it is now."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            wait_until(lambda: "most recent call first" in self.log.read_text(), "a stack", 10)
        return self.log.read_text()[-6000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=DEADLINE)
        self.reader.join(timeout=DEADLINE)
        return code


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def reports_by_note(app: Ledger) -> Counter[str]:
    """How many progress reports the store holds under each note (an event id)."""
    recorder = app.recorder
    with psycopg.connect(app_database(app)) as conn:
        rows = conn.execute(
            sql.SQL("SELECT topic, state FROM {}").format(events_table(recorder))  # type: ignore[arg-type]
        ).fetchall()
    return Counter(
        json.loads(bytes(state))["note"]
        for topic, state in rows
        if topic.endswith("ProgressReported")
    )


def app_database(app: Ledger) -> str:
    settings = app.recorder.datastore.pool.kwargs  # type: ignore[attr-defined]
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in settings.items() if k in {"host", "port", "user", "password", "dbname"}}
    )


def test_a_promoted_standby_holds_every_acknowledged_submission_exactly_once(
    pair: Pair,
    primary_app: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import_plans(primary_app, PLANS, REGISTRY)
    primary_app.close()
    url_file = pair.folder / "store-url"  # where the operator points the writers
    url_file.write_text(database_url(pair.written), encoding="utf-8")
    monkeypatch.setenv(LOG_KEY_FILE_ENV, str(pair.folder / "log.key"))
    writers = [
        Writer(url_file, subject, agency, pair.folder / f"writer-{n}.log")
        for n, (subject, agency) in enumerate(WRITERS)
    ]
    try:
        wait_until(lambda: all(len(w.acked) >= BEFORE for w in writers), "load on the primary")
        # an auditor's checkpoint, signed on the primary under load
        monkeypatch.setenv(DATABASE_URL_ENV, database_url(pair.written))
        code, checkpoint, err = cli(capsys, "audit", "checkpoint")
        assert code == 0, err
        wait_until(lambda: all(len(w.acked) >= 2 * BEFORE for w in writers), "more load")

        pair.primary.kill()  # -9, mid-load: the postmaster and every backend
        at_kill = [len(w.acked) for w in writers]
        replication.promote(pair.standby)
        url_file.write_text(database_url(pair.read), encoding="utf-8")
        wait_until(
            lambda: all(len(w.acked) >= n + AFTER for w, n in zip(writers, at_kill, strict=True)),
            "load on the promoted standby",
            detail=lambda: "\n".join(w.where() for w in writers),
        )
    finally:
        codes = [writer.stop() for writer in writers]
    assert codes == [0, 0], [w.log.read_text() for w in writers]
    assert all("store failed" in w.log.read_text() for w in writers)  # the kill hit them

    promoted = Ledger(env=pair.read.eventsourcing_env())
    try:
        assert not pair.standby.in_recovery()
        acked = {event_id: w.agency for w in writers for event_id in w.acked}
        assert len(acked) == sum(len(w.acked) for w in writers)  # no id acknowledged twice
        reports = reports_by_note(promoted)
        assert {e: reports[e] for e in acked if reports[e] != 1} == {}  # each exactly once
        assert max(reports.values()) == 1  # nor any unacknowledged one twice
        receipts = [submission_id(agency, event_id) for event_id, agency in acked.items()]
        assert promoted.existing(receipts) == set(receipts)
    finally:
        promoted.close()

    monkeypatch.setenv(DATABASE_URL_ENV, database_url(pair.read))
    saved = pair.folder / "checkpoint.txt"
    saved.write_text(checkpoint, encoding="utf-8")
    code, out, err = cli(capsys, "audit", "verify", "--checkpoint", str(saved))
    assert code == 0, err
    assert "verified" in out
