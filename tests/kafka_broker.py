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


# ---------------------------------------------------------------------------- cluster
# ``kafka.sh`` with LIENTHONG_KAFKA_BROKERS=3: node N (1..3) listens on port + 2(N-1) for
# clients and on the next port for the controllers, its files in ``home/broker-N``.

CLUSTER_BROKERS = 3


def cluster_env(home: Path, port: int, brokers: int = CLUSTER_BROKERS) -> dict[str, str]:
    env = broker_env(home, port)
    env["LIENTHONG_KAFKA_BROKERS"] = str(brokers)
    return env


def cluster_sh(
    args: list[str], home: Path, port: int, timeout_s: float, brokers: int = CLUSTER_BROKERS
) -> str:
    """Run ``kafka.sh ARGS`` for the cluster of ``home``; its output, or BrokerError."""
    try:
        done = subprocess.run(
            [str(SCRIPT), *args],
            env=cluster_env(home, port, brokers),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        raise BrokerError(
            f"kafka.sh {' '.join(args)} took longer than {timeout_s:g} s"
        ) from timeout
    if done.returncode != 0:
        raise BrokerError(
            f"kafka.sh {' '.join(args)} failed with status {done.returncode}"
            f" (logs: {home}/broker-N/broker.log):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def cluster_bootstrap(port: int, brokers: int = CLUSTER_BROKERS) -> str:
    return ",".join(bootstrap_of(port + 2 * n) for n in range(brokers))


def node_bootstrap(port: int, node: int) -> str:
    """The client address of node ``node`` (1-based) of the cluster at ``port``."""
    return bootstrap_of(port + 2 * (node - 1))


@contextmanager
def running_cluster(home: Path, port: int, brokers: int = CLUSTER_BROKERS) -> Iterator[str]:
    """A cluster of ``brokers`` nodes (each broker and controller) for the duration of
    the block; yields the bootstrap list and always stops every node."""
    try:
        cluster_sh(["start"], home, port, START_TIMEOUT_S, brokers)
        yield cluster_bootstrap(port, brokers)
    finally:
        cluster_sh(["stop"], home, port, STOP_TIMEOUT_S, brokers)


def kill_node(home: Path, port: int, node: int) -> None:
    """SIGKILL node ``node`` of the cluster: a crash."""
    cluster_sh(["kill", str(node)], home, port, STOP_TIMEOUT_S)


def start_node(home: Path, port: int, node: int) -> None:
    """Start node ``node`` again on its data; returns once every broker is registered."""
    cluster_sh(["start-broker", str(node)], home, port, START_TIMEOUT_S)


def free_port_run(count: int) -> int:
    """A port P such that P .. P + count - 1 are free on 127.0.0.1 right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
        if port + count > 65536:
            continue
        probes: list[socket.socket] = []
        try:
            for candidate in range(port, port + count):
                probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                probes.append(probe)
                probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return port
    raise BrokerError(f"no {count} consecutive free ports on 127.0.0.1")
