# ruff: noqa: INP001
# (a folder of scripts, not a package; the tests import it as deploy.kafka.topics)
"""The Kafka topics Lienthong uses, a readiness check of a broker, and what the tests of
a cluster ask it (the active controller, the leaders, the replicas out of sync).

Used by ``deploy/kafka/kafka.sh`` (``python deploy/kafka/topics.py
ready|ensure|controller``) and by the tests. Topics are created with kafka-python's
admin client; creating them again changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from services.kafka.topics import DEFAULT_PARTITIONS, PREFIX_ENV, TOPICS

_TOPIC_ALREADY_EXISTS = 36  # Kafka's error code TOPIC_ALREADY_EXISTS
_POLL_INTERVAL_S = 0.2


class BrokerNotReadyError(RuntimeError):
    """The broker did not answer a metadata request before the deadline."""


class TopicError(RuntimeError):
    """A topic could not be created, or exists with another partition count."""


def _admin(bootstrap: str, timeout_s: float = 10.0) -> Any:
    timeout_ms = max(int(timeout_s * 1000), 500)
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="lienthong-deploy",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until_ready(
    bootstrap: str,
    deadline_s: float,
    *,
    pid: int | None = None,
    cluster_id: str | None = None,
    brokers: int = 1,
) -> None:
    """Return once the broker at ``bootstrap`` answers a metadata request listing at
    least ``brokers`` brokers and a controller; raise :class:`BrokerNotReadyError` after
    ``deadline_s`` seconds, or at once when the process ``pid`` (if given) has exited or
    the broker answering belongs to another cluster than ``cluster_id`` (if given)."""
    deadline = time.monotonic() + deadline_s
    last_problem = "no answer yet"
    while True:
        if pid is not None and not _process_alive(pid):
            raise BrokerNotReadyError(f"the broker process {pid} exited ({last_problem})")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerNotReadyError(
                f"{bootstrap} not ready after {deadline_s:g} s ({last_problem})"
            )
        try:
            admin = _admin(bootstrap, timeout_s=min(remaining, 1.0))
        except KafkaError as error:
            last_problem = str(error)
        else:
            try:
                cluster = admin.describe_cluster()
                if cluster_id is not None and cluster.get("cluster_id") != cluster_id:
                    raise BrokerNotReadyError(
                        f"{bootstrap} is the broker of cluster {cluster.get('cluster_id')},"
                        f" not of {cluster_id}: another broker holds the port"
                    )
                listed = sum(1 for b in cluster.get("brokers") or [] if not b.get("is_fenced"))
                if listed >= max(brokers, 1) and cluster.get("controller_id", -1) >= 0:
                    return
                last_problem = (
                    f"{listed} of {brokers} broker(s), or no controller, in the metadata: {cluster}"
                )
            except KafkaError as error:
                last_problem = str(error)
            finally:
                admin.close()
        time.sleep(_POLL_INTERVAL_S)


def partition_counts(bootstrap: str, topics: Sequence[str] = TOPICS) -> dict[str, int]:
    """The number of partitions of each of ``topics`` that exists."""
    admin = _admin(bootstrap)
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    return {
        str(topic["name"]): len(topic.get("partitions") or [])
        for topic in described
        if topic.get("error_code", 0) == 0
    }


def ensure_topics(
    bootstrap: str,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    timeout_s: float = 30.0,
    prefix: str = "",
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
) -> list[str]:
    """Create Lienthong's topics that do not exist yet (all with ``partitions``
    partitions, ``replication_factor`` replicas, ``min_insync_replicas`` of them needed
    to acknowledge a write with ``acks=all``) and wait until every partition has a
    leader. ``prefix`` goes before every name (``LIENTHONG_TOPIC_PREFIX`` of the
    services). A cluster of three brokers: 3 and 2, so that one broker may be lost
    without losing an acknowledged record or refusing writes.

    Returns the names of the topics this call created (empty when all were there).
    Raises :class:`TopicError` when a topic cannot be created or already exists with
    another number of partitions.
    """
    names = [prefix + name for name in TOPICS]
    admin = _admin(bootstrap, timeout_s)
    try:
        # A dict of options: kafka-python 3.x documents lists of NewTopic as deprecated.
        response = admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": replication_factor,
                    "configs": {"min.insync.replicas": str(min_insync_replicas)},
                }
                for name in names
            },
            timeout_ms=int(timeout_s * 1000),
            raise_errors=False,
        )
        created: list[str] = []
        for result in response["topics"]:
            name, code = str(result["name"]), int(result["error_code"])
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:
                raise TopicError(f"{name}: error {code}: {result.get('error_message')}")
        admin.wait_for_topics(names, timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()
    counts = partition_counts(bootstrap, names)
    wrong = {name: count for name, count in counts.items() if count != partitions}
    if wrong:
        raise TopicError(f"topics exist with another partition count than {partitions}: {wrong}")
    return created


def active_controller(bootstrap: str) -> int:
    """The node id of the active controller: the leader of the KRaft metadata quorum
    (DescribeQuorum, which a broker forwards to the controllers)."""
    admin = _admin(bootstrap)
    try:
        quorum = admin.describe_metadata_quorum()
    finally:
        admin.close()
    partition = quorum["topics"][0]["partitions"][0]
    if partition.get("error"):
        raise KafkaError(str(partition["error"]))
    return int(partition["leader_id"])


def replicas(bootstrap: str, topics: Sequence[str]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (topic, partition): its ``leader``, ``replicas`` and ``isr`` (node ids)."""
    admin = _admin(bootstrap)
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    return {
        (str(topic["name"]), int(partition["partition_index"])): {
            "leader": int(partition["leader_id"]),
            "replicas": [int(n) for n in partition["replica_nodes"]],
            "isr": [int(n) for n in partition["isr_nodes"]],
        }
        for topic in described
        if topic.get("error_code", 0) == 0
        for partition in topic.get("partitions") or []
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="topics.py", description=__doc__)
    parser.add_argument("command", choices=["ready", "ensure", "controller"])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds (ready)")
    parser.add_argument("--pid", type=int, help="fail at once when this process exits")
    parser.add_argument("--cluster-id", help="fail when another cluster answers")
    parser.add_argument("--brokers", type=int, default=1, help="brokers to wait for (ready)")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--min-insync-replicas", type=int, default=1)
    parser.add_argument(
        "--prefix",
        default=os.environ.get(PREFIX_ENV, ""),
        help=f"before every topic name (default: ${PREFIX_ENV})",
    )
    args = parser.parse_args(argv)
    # kafka-python logs every refused connection while the broker starts; quiet it.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    out = sys.stdout
    try:
        if args.command == "ready":
            wait_until_ready(
                args.bootstrap,
                args.deadline,
                pid=args.pid,
                cluster_id=args.cluster_id,
                brokers=args.brokers,
            )
            out.write(f"broker at {args.bootstrap} is ready\n")
        elif args.command == "controller":
            out.write(f"{active_controller(args.bootstrap)}\n")
        else:
            created = ensure_topics(
                args.bootstrap,
                args.partitions,
                prefix=args.prefix,
                replication_factor=args.replication_factor,
                min_insync_replicas=args.min_insync_replicas,
            )
            existing = [args.prefix + name for name in TOPICS if args.prefix + name not in created]
            out.write(
                f"topics on {args.bootstrap} ({args.partitions} partitions,"
                f" {args.replication_factor} replicas, min.insync.replicas"
                f" {args.min_insync_replicas}): "
                f"created {', '.join(created) or 'none'}; "
                f"already there {', '.join(existing) or 'none'}\n"
            )
    except (BrokerNotReadyError, TopicError, KafkaError) as error:
        sys.stderr.write(f"{args.command}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
