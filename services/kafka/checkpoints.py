"""The checkpointer of full mode: the tree follows the log, a signed checkpoint is kept
now and then (:class:`services.app.checkpointer.Checkpointer`), and every kept
checkpoint is published to ``log-checkpoints`` — the note's text (UTF-8) keyed by the
log's origin, with the tree size in the ``tree_size`` header and the checkpoint's
number in ``checkpoint_id``.

There is no dual write: what is published is read back from the kept checkpoints,
after the last one published, whose number is tracked (``checkpointer:log-checkpoints``
in the recorder's tracking table). A checkpoint kept but not yet published when the
process died is published after it starts again; one published but not yet tracked is
published again, and consumers dedupe by ``checkpoint_id``. When the broker is away
(a flush not done in :data:`FLUSH_SECONDS`) the checkpointer keeps following the log
and keeping checkpoints, and tries to publish again with the same backoff as when
PostgreSQL is away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from eventsourcing.persistence import ProcessRecorder, Tracking
from kafka.errors import KafkaError

from services.app.audit import log_tree
from services.app.checkpointer import Checkpointer
from services.app.ledger import Ledger
from services.kafka.topics import LOG_CHECKPOINTS, Producer
from services.kafka.vitals import Vitals
from services.store.tlog import LogTree

TRACKING = "checkpointer:log-checkpoints"
BATCH = 100
FLUSH_SECONDS = 10.0  # then the broker counts as away: the tree is followed meanwhile


class CheckpointPublisher:
    """Publishes the kept checkpoints through a producer ``connect`` makes when one is
    first needed (and again after it failed to)."""

    def __init__(
        self, app: Ledger, tree: LogTree, connect: Callable[[], Producer], prefix: str = ""
    ) -> None:
        self.recorder = cast("ProcessRecorder", app.recorder)
        self.tree = tree
        self.connect = connect
        self.producer: Producer | None = None
        self.topic = f"{prefix}{LOG_CHECKPOINTS}"
        self.tracking = f"{prefix}{TRACKING}"

    def position(self) -> int:
        """The number of the last checkpoint published and tracked."""
        return self.recorder.max_tracking_id(self.tracking) or 0

    def step(self) -> int:
        """Publish the checkpoints kept since the last one published; returns how many."""
        kept = self.tree.checkpoints_after(self.position(), BATCH)
        if not kept:
            return 0
        if self.producer is None:
            self.producer = self.connect()
        for checkpoint in kept:
            origin = checkpoint.note.split("\n", 1)[0]  # a checkpoint's first line
            headers = [
                ("tree_size", str(checkpoint.size).encode()),
                ("checkpoint_id", str(checkpoint.id).encode()),
            ]
            self.producer.send(
                self.topic, value=checkpoint.note.encode(), key=origin.encode(), headers=headers
            )
        self.producer.flush(timeout=FLUSH_SECONDS)
        self.recorder.insert_tracking(Tracking(self.tracking, kept[-1].id))
        return len(kept)


def run_checkpointer(
    app: Ledger,
    checkpointer: Checkpointer,
    connect: Callable[[], Producer],
    prefix: str = "",
    health: Vitals | None = None,
) -> None:
    """Follow, checkpoint and publish until ``checkpointer.stop()``; the broker may be
    away, even at first (the tree is followed and checkpoints kept meanwhile).
    ``health`` is told of every round: the tree followed and what was kept published."""
    publisher = CheckpointPublisher(app, log_tree(app.recorder), connect, prefix)
    vitals = health or Vitals()

    def publish() -> None:
        try:
            publisher.step()
        except KafkaError as error:
            vitals.failed(error)
            raise
        vitals.done()

    checkpointer.run(then=publish, retry_on=(KafkaError,))
