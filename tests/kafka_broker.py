"""Helpers that run a real single-node Kafka broker for the tests.

Every broker is started by ``deploy/kafka/kafka.sh`` with a home folder and a port of
its own; the jars (fetched once from Maven Central) are shared between homes through
``LIENTHONG_KAFKA_LIBS``, by default ``<repo>/.kafka/libs``. Nothing here talks to a
broker the tests did not start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"
LIBS_ENV = "LIENTHONG_KAFKA_LIBS"
DEFAULT_LIBS = ROOT / ".kafka" / "libs"

# A cold fetch from Maven Central takes ~10 s and a start ~5 s here; these are ceilings.
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 60.0


class BrokerError(RuntimeError):
    """kafka.sh failed; the message carries its output and the tail of the broker log."""


def broker_env(home: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["LIENTHONG_KAFKA_HOME"] = str(home)
    env["LIENTHONG_KAFKA_PORT"] = str(port)
    env.setdefault(LIBS_ENV, str(DEFAULT_LIBS))
    env.setdefault("LIENTHONG_PYTHON", sys.executable)  # the test run's Python has kafka-python
    return env


def kafka_sh(command: str, home: Path, port: int, timeout_s: float) -> str:
    """Run ``kafka.sh COMMAND`` for the broker of ``home``; its output, or BrokerError."""
    try:
        done = subprocess.run(
            [str(SCRIPT), command],
            env=broker_env(home, port),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        raise BrokerError(
            f"kafka.sh {command} took longer than {timeout_s:g} s (log: {home / 'broker.log'})"
        ) from timeout
    if done.returncode != 0:
        raise BrokerError(
            f"kafka.sh {command} failed with status {done.returncode}"
            f" (log: {home / 'broker.log'}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def bootstrap_of(port: int) -> str:
    return f"127.0.0.1:{port}"


def start(home: Path, port: int) -> str:
    """Start (fetching Kafka first if needed) and wait until ready; the bootstrap address."""
    kafka_sh("start", home, port, START_TIMEOUT_S)
    return bootstrap_of(port)


def stop(home: Path, port: int) -> None:
    kafka_sh("stop", home, port, STOP_TIMEOUT_S)


def restart(home: Path, port: int) -> str:
    """Stop the broker of ``home`` (SIGTERM, a clean shutdown) and start it again on the
    same data; the bootstrap address, once it answers again."""
    stop(home, port)
    return start(home, port)


@contextmanager
def running_broker(home: Path, port: int) -> Iterator[str]:
    """A broker with its own ``home`` folder and client ``port`` (the controller uses
    ``port + 1``) for the duration of the block; yields "127.0.0.1:<port>" and always
    stops it, also when the start itself failed half-way."""
    try:
        yield start(home, port)
    finally:
        stop(home, port)


def free_port_pair() -> int:
    """A port P such that P and P + 1 are free on 127.0.0.1 right now (the broker's client
    and controller listeners)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:  # the next one must exist too
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise BrokerError("no two consecutive free ports on 127.0.0.1")
