"""``lienthong checkpointer`` on a real broker: it follows the growing log with the
tree, keeps signed checkpoints and publishes every one to ``log-checkpoints``; killed
with SIGKILL and started again, it publishes what was kept meanwhile and catches up."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from domain.merkle import verify_consistency
from services.app.audit import load_signer, log_tree, make_checkpoint
from services.app.ledger import Actor, Ledger
from services.app.notes import Checkpoint, Verifier
from services.kafka.checkpoints import TRACKING
from services.kafka.topics import LOG_CHECKPOINTS
from services.store.database import Database
from services.store.tlog import LogTree
from tests.commands import execute
from tests.kafka.processes import CliProcess
from tests.kafka.test_ingestion import DEADLINE_S, database_url, wait_for
from tests.kafka_broker import free_port_pair

TASK = "phuoc-binh-2026/task/9"  # led by all agencies: the police may report on it
POLICE = Actor(agency="phuoc-binh.police", person="Nguyễn Văn A", channel="test")
DAY = dt.date(2026, 2, 10)


class CheckpointerProcess(CliProcess):
    """``lienthong checkpointer`` in a process of its own, killable, restartable."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__("checkpointer", env, log)


def covered(tree: LogTree) -> bool:
    """The tree follows the whole log and its latest checkpoint signs all of it."""
    latest = tree.latest_checkpoint()
    return tree.lag() == 0 and latest is not None and latest.size == tree.head().size


def published_up_to(app: Ledger, prefix: str) -> int:
    return app.recorder.max_tracking_id(f"{prefix}{TRACKING}") or 0  # type: ignore[attr-defined]


def environment(database: Database, bootstrap: str, prefix: str, key: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_KAFKA_BOOTSTRAP": bootstrap,
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_LOG_KEY_FILE": str(key),
        "LIENTHONG_CHECKPOINT_SECONDS": "0.2",
    }


class Log:
    """The store's log as this test grows it, and its tree."""

    def __init__(self, store: Ledger, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.tree = log_tree(store.recorder)
        self.percents = itertools.count(1)

    def grow(self) -> None:
        percent = next(self.percents)
        execute(self.store, "progress_reported", TASK, POLICE, {"percent": percent, "as_of": DAY})

    def covered(self) -> bool:
        return covered(self.tree)

    def all_published(self) -> bool:
        latest = self.tree.latest_checkpoint()
        return latest is not None and published_up_to(self.store, self.prefix) == latest.id


def test_every_kept_checkpoint_is_published_through_a_kill_and_a_restart(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    key = tmp_path / "log.key"
    signer = load_signer(key)
    env = environment(database, broker[2], prefix, key)
    log = Log(store, prefix)
    checkpointer = CheckpointerProcess(env, tmp_path / "checkpointer.log")
    checkpointer.start()
    try:
        for _ in range(3):
            log.grow()
            wait_for(log.covered, "a checkpoint of the whole log")
        wait_for(log.all_published, "every checkpoint published")
        checkpointer.kill()
        log.grow()
        unpublished = make_checkpoint(log.tree, signer, lambda _: None)  # kept, not published
        log.grow()  # and the tree is behind
        assert log.tree.lag() == 2
        checkpointer.start()
        wait_for(log.covered, "the tree caught up after the restart")
        log.grow()
        wait_for(log.covered, "a checkpoint of the grown log")
        wait_for(log.all_published, "every checkpoint published after the restart")
    finally:
        checkpointer.stop()
    assert unpublished in [k.note for k in log.tree.checkpoints_after(0, 1000)]
    assert_published(log.tree, signer.verifier(), broker[2], prefix)


def test_the_tree_is_followed_while_the_broker_is_away_and_published_once_it_is_back(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    key = tmp_path / "log.key"
    signer = load_signer(key)
    log = Log(store, prefix)
    away = environment(database, f"127.0.0.1:{free_port_pair()}", prefix, key)  # no broker
    checkpointer = CheckpointerProcess(away, tmp_path / "checkpointer.log")
    checkpointer.start()
    try:
        wait_for(log.covered, "a checkpoint of the log without a broker")
        log.grow()
        wait_for(log.covered, "a checkpoint of the grown log without a broker")
        assert published_up_to(store, prefix) == 0
        assert checkpointer.process is not None
        assert checkpointer.process.poll() is None  # it keeps trying
    finally:
        checkpointer.stop()
    checkpointer.env = environment(database, broker[2], prefix, key)
    checkpointer.start()
    try:
        wait_for(log.all_published, "every checkpoint published once the broker is back")
    finally:
        checkpointer.stop()
    assert "trying again" in (tmp_path / "checkpointer.log").read_text(errors="replace")
    assert_published(log.tree, signer.verifier(), broker[2], prefix)


def assert_published(tree: LogTree, verifier: Verifier, bootstrap: str, prefix: str) -> None:
    """Every kept checkpoint is on the topic, signed, keyed by its origin, each one
    consistent with the one before."""
    kept = tree.checkpoints_after(0, 1000)
    records = consume(bootstrap, f"{prefix}{LOG_CHECKPOINTS}", {k.id for k in kept})
    by_id = {int(dict(r.headers)["checkpoint_id"]): r for r in records}
    assert sorted(by_id) == [k.id for k in kept]  # each kept checkpoint, once at least
    checkpoints = []
    for checkpoint_id in sorted(by_id):
        record = by_id[checkpoint_id]
        checkpoint = Checkpoint.parse(verifier.verify(record.value.decode()))
        assert record.key == verifier.name.encode()
        assert dict(record.headers)["tree_size"] == str(checkpoint.size).encode()
        checkpoints.append(checkpoint)
    assert checkpoints[-1].size == tree.head().size
    for old, new in itertools.pairwise(checkpoints):
        proof = tree.consistency(old.size, new.size)
        verify_consistency(old.size, new.size, proof, old.root, new.root)


def consume(bootstrap: str, topic: str, wanted: set[int]) -> list[Any]:
    """The topic's records until every checkpoint number in ``wanted`` was read."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1000
    )
    records: list[Any] = []
    seen: set[int] = set()
    deadline = time.monotonic() + DEADLINE_S
    while not wanted <= seen and time.monotonic() < deadline:
        for record in consumer:
            records.append(record)
            seen.add(int(dict(record.headers)["checkpoint_id"]))
    consumer.close()
    return records
