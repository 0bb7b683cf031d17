"""Full mode: the API (publishing through Kafka), the ingest worker, the relay, the
checkpointer and the reminders, as child processes of one command.

Run it against an external PostgreSQL and Kafka (``LIENTHONG_DATABASE_URL``,
``LIENTHONG_KAFKA_BOOTSTRAP``), or on the embedded default, whose watchdog brings a
crashed PostgreSQL back (:mod:`services.store.database`); every child reads the same
environment. A child that exits is started again after a backoff (doubling from
:data:`RESTART_FIRST_SECONDS` to :data:`RESTART_MAX_SECONDS`, back to the first once
it has run :data:`STABLE_SECONDS`), each exit and restart logged (``child``, ``pid``).
On SIGINT/SIGTERM every child is stopped.

Each child serves its own metrics, on the port ``LIENTHONG_METRICS_ADDRESS`` gives
its command (:mod:`services.metrics`), and logs its own JSON lines to the standard
error they share (:mod:`services.logs`).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

CHILDREN: tuple[tuple[str, ...], ...] = (
    ("serve", "--via-kafka"),
    ("ingest-worker",),
    ("relay",),
    ("checkpointer",),
    ("reminders",),
)
STOP_SECONDS = 30.0
POLL_SECONDS = 0.5
RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0
log = logging.getLogger(__name__)


def start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", *command])  # noqa: S603 - our own CLI


class Child:
    """One child process, started again after a backoff whenever it exits."""

    def __init__(self, command: tuple[str, ...]) -> None:
        self.command = command
        self.name = command[0]
        self.process = start(command)
        self.started = time.monotonic()
        self.delay = RESTART_FIRST_SECONDS
        self.due: float | None = None  # when to start it again, once it has exited

    def tend(self, now: float) -> None:
        if self.process.poll() is None:
            return
        if self.due is None:
            if now - self.started >= STABLE_SECONDS:
                self.delay = RESTART_FIRST_SECONDS
            log.warning(
                "%s (pid %d) exited with %s; starting it again in %g s",
                self.name,
                self.process.pid,
                self.process.returncode,
                self.delay,
                extra={"child": self.name, "pid": self.process.pid},
            )
            self.due = now + self.delay
            self.delay = min(self.delay * 2, RESTART_MAX_SECONDS)
        elif now >= self.due:
            self.process = start(self.command)
            self.started, self.due = now, None
            log.warning(
                "%s started again (pid %d)",
                self.name,
                self.process.pid,
                extra={"child": self.name, "pid": self.process.pid},
            )


def stop_all(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_full() -> int:
    """Run the five processes, restarting any that exits, until a signal arrives."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    children = [Child(command) for command in CHILDREN]
    try:
        while not stop.wait(POLL_SECONDS):
            now = time.monotonic()
            for child in children:
                child.tend(now)
        return 0
    finally:
        stop_all([child.process for child in children])
