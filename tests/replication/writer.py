"""A writer under load for the failover test, as a process of its own:

    python -m tests.replication.writer URL_FILE SUBJECT AGENCY

Submits progress reports on SUBJECT as AGENCY through
:func:`services.app.submissions.submit` (the production path, idempotent by event id)
on the store named in URL_FILE, one after another, and prints each acknowledged event
id (accepted, or a duplicate of one the store holds) on a line of its own. When the
store fails (its server killed, say), it reads URL_FILE again — the operator points
the writers at the promoted standby there — and sends the SAME event id again, until
it is acknowledged. Each report's note is its event id. Stops on SIGTERM.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import faulthandler
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import TextIO

from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, TryAgainError, submit
from services.store.database import STORE_ERRORS, parse_database_url

DAY = dt.date(2026, 2, 10)
RETRY_SECONDS = 0.05
CONNECT_TIMEOUT = "POSTGRES_CONNECT_TIMEOUT"  # the eventsourcing library's setting


def say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def main() -> int:
    faulthandler.register(signal.SIGUSR1)  # a stuck writer tells where
    url_file, subject, agency = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app: Ledger | None = None
    event_id = str(uuid.uuid4())
    while not stop.is_set():
        try:
            if app is None:
                database = parse_database_url(url_file.read_text(encoding="utf-8").strip())
                # a dead server's pool is given up on within seconds, not 30
                app = Ledger(env={**database.eventsourcing_env(), CONNECT_TIMEOUT: "2"})
            command = Command(
                event_id,
                "progress_reported",
                subject,
                Actor(agency=agency, channel="test"),
                {"percent": 10, "as_of": DAY, "note": event_id},
            )
            verdict = submit(app, command)
        except (*STORE_ERRORS, TryAgainError) as error:
            say(sys.stderr, f"store failed: {type(error).__name__}: {error}")
            if app is not None:
                with contextlib.suppress(*STORE_ERRORS):
                    app.close()
                app = None
            stop.wait(RETRY_SECONDS)  # then the same event id again
            continue
        if verdict.outcome not in {"accepted", "duplicate"}:
            say(sys.stderr, f"refused: {verdict}")
            return 1
        say(sys.stdout, event_id)
        event_id = str(uuid.uuid4())
    return 0


if __name__ == "__main__":
    sys.exit(main())
