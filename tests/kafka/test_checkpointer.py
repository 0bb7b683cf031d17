"""``lienthong checkpointer`` on a real broker: it follows the growing log with the
tree, keeps signed checkpoints and publishes every one to ``log-checkpoints``; killed
with SIGKILL and started again, it publishes what was kept meanwhile and catches up."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from domain.merkle import verify_consistency
from services.app.audit import load_signer, log_tree, make_checkpoint
from services.app.ledger import Actor, Ledger
from services.app.notes import Checkpoint
from services.kafka.checkpoints import TRACKING
from services.kafka.topics import LOG_CHECKPOINTS
from services.store.database import Database
from services.store.tlog import LogTree
from tests.commands import execute
from tests.kafka.test_ingestion import DEADLINE_S, database_url, wait_for

TASK = "phuoc-binh-2026/task/9"  # led by all agencies: the police may report on it
POLICE = Actor(agency="phuoc-binh.police", person="Nguyễn Văn A", channel="test")
DAY = dt.date(2026, 2, 10)


class CheckpointerProcess:
    """``lienthong checkpointer`` in a process of its own, killable, restartable."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "checkpointer"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def covered(tree: LogTree) -> bool:
    """The tree follows the whole log and its latest checkpoint signs all of it."""
    latest = tree.latest_checkpoint()
    return tree.lag() == 0 and latest is not None and latest.size == tree.head().size


def published_up_to(app: Ledger, prefix: str) -> int:
    return app.recorder.max_tracking_id(f"{prefix}{TRACKING}") or 0  # type: ignore[attr-defined]


def test_every_kept_checkpoint_is_published_through_a_kill_and_a_restart(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    key = tmp_path / "log.key"
    signer = load_signer(key)
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": database_url(database),
        "LIENTHONG_KAFKA_BOOTSTRAP": broker[2],
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_LOG_KEY_FILE": str(key),
        "LIENTHONG_CHECKPOINT_SECONDS": "0.2",
    }
    tree = log_tree(store.recorder)
    percents = itertools.count(1)

    def grow() -> None:
        execute(store, "progress_reported", TASK, POLICE, {"percent": next(percents), "as_of": DAY})

    def all_published() -> bool:
        latest = tree.latest_checkpoint()
        return latest is not None and published_up_to(store, prefix) == latest.id

    checkpointer = CheckpointerProcess(env, tmp_path / "checkpointer.log")
    checkpointer.start()
    try:
        for _ in range(3):
            grow()
            wait_for(lambda: covered(tree), "a checkpoint of the whole log")
        wait_for(all_published, "every checkpoint published")
        checkpointer.kill()
        grow()
        unpublished = make_checkpoint(tree, signer, lambda _: None)  # kept, not published
        grow()  # and the tree is behind
        assert tree.lag() == 2
        checkpointer.start()
        wait_for(lambda: covered(tree), "the tree caught up after the restart")
        grow()
        wait_for(lambda: covered(tree), "a checkpoint of the grown log")
        wait_for(all_published, "every checkpoint published after the restart")
    finally:
        checkpointer.stop()
    kept = tree.checkpoints_after(0, 1000)
    assert unpublished in [k.note for k in kept]
    records = consume(broker[2], f"{prefix}{LOG_CHECKPOINTS}", {k.id for k in kept})
    by_id = {int(dict(r.headers)["checkpoint_id"]): r for r in records}
    assert sorted(by_id) == [k.id for k in kept]  # each kept checkpoint, once at least
    verifier = signer.verifier()
    checkpoints = []
    for checkpoint_id in sorted(by_id):
        record = by_id[checkpoint_id]
        checkpoint = Checkpoint.parse(verifier.verify(record.value.decode()))
        assert record.key == signer.name.encode()
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
