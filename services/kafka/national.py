"""The national rollup: one consolidated view of every province, fed only from each
province's outbound topic.

A province is an installation of its own: its store (``LIENTHONG_DATABASE_URL``, a
primary and its standby) and its ``LIENTHONG_TOPIC_PREFIX`` on the shared Kafka
cluster; its relay publishes its log, as ``lienthong.v1.AuditEvent``, to
``<prefix>coordination-events`` (:mod:`services.kafka.relay`). No province reads
another's store, nor does the nation.

:class:`NationalRollup` takes those records — every province's topic, from the start
— and keeps per province: the plans issued, each task's latest reported progress,
and how many records it took; nationally the same summed, and the mean progress of the
tasks reported. A record already taken is skipped: a subject's records come in log
order on one partition (keyed by subject), so one at or below the last position taken
for its subject is the relay publishing again what it had not tracked before a
restart.

:func:`read_to_end` reads every province's topic up to the end offsets it finds when
it starts (``lienthong national rollup --provinces P1,P2``: the JSON on standard
output). The rollup lives in memory, rebuilt from the topics each time: it covers what
the topics retain (``coordination-events`` keeps 30 days by default; a national
rollup of whole years needs them kept longer, or compacted rollups of its own).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lienthong.v1 import resources_pb2

from domain.plan import Plan
from domain.task import Task
from services.kafka.topics import COORDINATION_EVENTS

PLAN_ISSUED = Plan.Issued.TOPIC
PROGRESS_REPORTED = Task.ProgressReported.TOPIC
READ_SECONDS = 120.0


@dataclass
class Province:
    """What the nation knows of one province, from its outbound topic."""

    plans: set[str] = field(default_factory=set)
    progress: dict[str, int] = field(default_factory=dict)  # task subject → latest percent
    records: int = 0
    last: dict[str, int] = field(default_factory=dict)  # subject → last position taken

    def summary(self) -> dict[str, Any]:
        return {
            "plans": sorted(self.plans),
            "tasks_reported": len(self.progress),
            "mean_percent": mean(self.progress.values()),
            "records": self.records,
        }


def mean(values: Any) -> float:
    numbers = list(values)
    return round(sum(numbers) / len(numbers), 1) if numbers else 0.0


class NationalRollup:
    """Every province's records taken in; :meth:`summary` is the national rollup."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        if not prefixes or len(set(prefixes)) != len(prefixes):
            msg = f"the provinces' topic prefixes must be given, each once: {list(prefixes)}"
            raise ValueError(msg)
        self.provinces = {prefix: Province() for prefix in prefixes}
        self.by_topic = {f"{prefix}{COORDINATION_EVENTS}": prefix for prefix in prefixes}

    def take(self, topic: str, value: bytes) -> bool:
        """One record of a province's topic; False when it was taken already."""
        province = self.provinces[self.by_topic[topic]]
        event = resources_pb2.AuditEvent.FromString(value)
        if event.position <= province.last.get(event.subject, 0):
            return False
        province.last[event.subject] = event.position
        province.records += 1
        if event.topic == PLAN_ISSUED:
            province.plans.add(event.subject)
        elif event.topic == PROGRESS_REPORTED:
            percent = event.body["percent"]
            province.progress[event.subject] = int(percent) if isinstance(percent, float) else 0
        return True

    def summary(self) -> dict[str, Any]:
        """Per province (by its prefix) and for the nation."""
        provinces = self.provinces.values()
        return {
            "provinces": {prefix: p.summary() for prefix, p in self.provinces.items()},
            "nation": {
                "provinces": len(self.provinces),
                "plans": sum(len(p.plans) for p in provinces),
                "tasks_reported": sum(len(p.progress) for p in provinces),
                "mean_percent": mean(v for p in provinces for v in p.progress.values()),
                "records": sum(p.records for p in provinces),
            },
        }


def read_to_end(bootstrap: str, rollup: NationalRollup, timeout: float = READ_SECONDS) -> None:
    """Take every record of the provinces' topics up to their end offsets as found
    now (TimeoutError when they are not read within ``timeout`` seconds)."""
    from kafka import KafkaConsumer, TopicPartition  # noqa: PLC0415 - a reader's import

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in rollup.by_topic
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        missing = {t for t in rollup.by_topic if not any(p.topic == t for p in partitions)}
        if missing:
            msg = f"no such topic on {bootstrap}: {', '.join(sorted(missing))}"
            raise ValueError(msg)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while any(consumer.position(p) < end for p, end in ends.items()):
            if time.monotonic() > deadline:
                msg = f"the provinces' topics were not read to their end in {timeout:.0f} s"
                raise TimeoutError(msg)
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    rollup.take(record.topic, record.value)
    finally:
        consumer.close()
