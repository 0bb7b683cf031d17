"""Full mode: the API (publishing through Kafka), the ingest worker and the relay, as
child processes of one command, stopped together.

Run it against an external PostgreSQL and Kafka (``LIENTHONG_DATABASE_URL``,
``LIENTHONG_KAFKA_BOOTSTRAP``); every child reads the same environment. When one
child exits, or on SIGINT/SIGTERM, the others are stopped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

CHILDREN: tuple[tuple[str, ...], ...] = (("serve", "--via-kafka"), ("ingest-worker",), ("relay",))
STOP_SECONDS = 30.0
POLL_SECONDS = 0.5


def start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", *command])  # noqa: S603 - our own CLI


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
    """Run the three processes until one ends or a signal arrives; the first failure's code."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    children = {command[0]: start(command) for command in CHILDREN}
    try:
        while not stop.wait(POLL_SECONDS):
            for name, child in children.items():
                if child.poll() is not None:
                    sys.stderr.write(
                        f"lienthong: {name} exited with {child.returncode}; stopping\n"
                    )
                    return child.returncode or 1
        return 0
    finally:
        stop_all(list(children.values()))
