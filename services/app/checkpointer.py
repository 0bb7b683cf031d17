"""The tree's follower and periodic checkpointer, and the log's health.

:class:`Checkpointer` appends what the log stored to the tree (:meth:`LogTree.update`)
and, when the tree grew and at least ``LIENTHONG_CHECKPOINT_SECONDS`` passed since the
latest checkpoint, signs its head and keeps the checkpoint. It runs as ``lienthong
checkpointer`` in full mode (which also publishes every kept checkpoint to Kafka,
:mod:`services.kafka.checkpoints`) and as a thread of the API server in embedded mode.
When PostgreSQL is away it logs the failure and tries again with backoff (from
:data:`RETRY_FIRST_SECONDS`, doubling, at most :data:`RETRY_MAX_SECONDS`).

:func:`log_status` is what the follower's lag and the latest checkpoint's age are;
:meth:`LogStatus.healthy` says whether they are within the limits. The checkpointer
exports them after every step (``lienthong_tree_lag_records``,
``lienthong_checkpoint_age_seconds``, ``lienthong_log_records``: :mod:`services.metrics`).

Settings (environment variables):

- ``LIENTHONG_CHECKPOINT_SECONDS`` — at least this long between two checkpoints
  (default 10); a checkpoint is made only when the tree grew;
- ``LIENTHONG_TREE_MAX_LAG`` — the most stored records the tree may not have appended
  yet while the log is healthy (default 10,000);
- ``LIENTHONG_CHECKPOINT_MAX_AGE_SECONDS`` — how old the latest checkpoint may be,
  when the log grew since it, while the log is healthy (default 300).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.app.audit import sign_head
from services.app.notes import Signer
from services.metrics import observe_log
from services.store.database import STORE_ERRORS, ConfigurationError
from services.store.tlog import Kept, LogTree

POLL_SECONDS = 0.5
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogLimits:
    checkpoint_seconds: float = 10.0
    max_lag: int = 10_000
    max_age_seconds: float = 300.0

    @classmethod
    def from_env(cls) -> LogLimits:
        defaults = cls()
        try:
            return cls(
                checkpoint_seconds=float(
                    os.environ.get("LIENTHONG_CHECKPOINT_SECONDS", defaults.checkpoint_seconds)
                ),
                max_lag=int(os.environ.get("LIENTHONG_TREE_MAX_LAG", defaults.max_lag)),
                max_age_seconds=float(
                    os.environ.get("LIENTHONG_CHECKPOINT_MAX_AGE_SECONDS", defaults.max_age_seconds)
                ),
            )
        except ValueError as error:
            raise ConfigurationError(
                f"a LIENTHONG_CHECKPOINT_* or _TREE_MAX_LAG setting is not a number: {error}"
            ) from None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class LogStatus:
    tree_size: int
    stored: int  # records in the log
    lag: int  # stored records the tree has not appended yet
    checkpoint: Kept | None  # the latest
    age_seconds: float | None  # of the latest checkpoint

    def healthy(self, limits: LogLimits) -> bool:
        """The tree is at most ``max_lag`` behind, and the latest checkpoint at most
        ``max_age_seconds`` old unless the log did not grow since it."""
        if self.lag > limits.max_lag:
            return False
        if self.stored <= (self.checkpoint.size if self.checkpoint else 0):
            return True
        return self.age_seconds is not None and self.age_seconds <= limits.max_age_seconds


def log_status(tree: LogTree) -> LogStatus:
    head, lag, latest = tree.status()
    age = (now() - latest.made_at).total_seconds() if latest else None
    return LogStatus(head.size, head.size + lag, lag, latest, age)


class Checkpointer:
    """Follows the log with the tree and keeps a signed checkpoint of it now and then."""

    def __init__(self, tree: LogTree, signer: Signer, limits: LogLimits) -> None:
        self.tree = tree
        self.signer = signer
        self.limits = limits
        self.stopping = threading.Event()

    def step(self) -> Kept | None:
        """Bring the tree up to date; the checkpoint made, if it is time for one."""
        self.tree.update()
        size = self.tree.head().size
        latest = self.tree.latest_checkpoint()
        if latest is None:
            return sign_head(self.tree, self.signer) if size else None
        due = (now() - latest.made_at).total_seconds() >= self.limits.checkpoint_seconds
        return sign_head(self.tree, self.signer) if size > latest.size and due else None

    def run(
        self,
        then: Callable[[], object] = lambda: None,
        retry_on: tuple[type[Exception], ...] = (),
    ) -> None:
        """Step, then ``then()``, every :data:`POLL_SECONDS` until :meth:`stop`, through
        outages of the store (and the errors ``retry_on`` names)."""
        delay = RETRY_FIRST_SECONDS
        passing: tuple[type[Exception], ...] = (*STORE_ERRORS, *retry_on)
        failing_since: float | None = None  # an outage: said once, and once when over
        while not self.stopping.is_set():
            try:
                self.step()
                status = log_status(self.tree)
                observe_log(status.lag, status.stored, status.age_seconds)
                then()
            except passing as error:
                if self.stopping.is_set():
                    return
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning(
                        "following the log's tree failed (%s: %s); trying again, at most "
                        "every %.0f s",
                        type(error).__name__,
                        str(error).strip().splitlines()[0] if str(error).strip() else "",
                        RETRY_MAX_SECONDS,
                    )
                log.debug("following the log's tree failed", exc_info=True)
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            if failing_since is not None:
                log.info(
                    "following the log's tree again after %.1f s",
                    time.monotonic() - failing_since,
                )
                failing_since = None
            delay = RETRY_FIRST_SECONDS
            self.stopping.wait(POLL_SECONDS)

    def stop(self) -> None:
        self.stopping.set()

    def start(self) -> threading.Thread:
        """:meth:`run` in a thread of its own (the API server's, in embedded mode)."""
        thread = threading.Thread(target=self._run_logged, name="checkpointer", daemon=True)
        thread.start()
        return thread

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("the log's checkpointer stopped: the log's health will say so")
