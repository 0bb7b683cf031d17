"""What a background process's health service answers (``lienthong ingest-worker``,
``relay``, ``reminders``, ``checkpointer``): whether it is doing its job.

The process's loop tells its :class:`Vitals` how it goes — :meth:`~Vitals.done` when a
step went through end to end (a batch stored and its offsets committed, a page of the
log published and tracked, a pass of reminders, a checkpoint published; the worker:
its partitions assigned), :meth:`~Vitals.beat` when it comes round without a step to
do, :meth:`~Vitals.failed` when a step failed, :meth:`~Vitals.stopped` when it stops —
and a thread of its own asks the store every :data:`STORE_CHECK_SECONDS` whether it
answers (:meth:`~Vitals.check_store`). The process is serving (:meth:`~Vitals.serving`)
when all of these hold:

- it has done a first step (the worker: its consumer was assigned its partitions);
- it has not stopped;
- the store answered its last check, within :data:`STORE_STALE_SECONDS` (a check that
  hangs counts as an unreachable store);
- no step failed on the store since the last step done (the last batch committed);
- the broker answered a metadata request (asked every :data:`BROKER_CHECK_SECONDS` in
  a thread of its own, :func:`broker_check`) within the grace, and no step has failed on
  the broker (or timed out) for longer than the grace (``LIENTHONG_HEALTH_GRACE_SECONDS``,
  default :data:`GRACE_SECONDS`): a broker that is away briefly (a restart, a leader
  moving) is ridden out without a word;
- its loop came round within its period and the grace (a loop that hangs is not
  serving).

Pure bookkeeping with a clock: :mod:`services.grpc.health` serves what it says.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from services.store.database import STORE_ERRORS, ConfigurationError

GRACE_ENV = "LIENTHONG_HEALTH_GRACE_SECONDS"
GRACE_SECONDS = 30.0
STORE_CHECK_SECONDS = 1.0
STORE_STALE_SECONDS = 10.0
BROKER_CHECK_SECONDS = 2.0
log = logging.getLogger(__name__)


def grace_from_env() -> float:
    """How long the broker may be away before a process is not serving."""
    text = os.environ.get(GRACE_ENV, "").strip()
    try:
        grace = float(text) if text else GRACE_SECONDS
    except ValueError:
        grace = -1.0
    if grace <= 0:
        msg = f"{GRACE_ENV} must be a number of seconds above 0, got {text!r}"
        raise ConfigurationError(msg)
    return grace


def broker_check(bootstrap: str) -> Callable[[], object]:
    """A metadata request to the cluster at ``bootstrap``, on a client of its own made
    at the first call (and again after it could not be)."""
    client: list[Any] = []

    def check() -> object:
        if not client:
            from kafka import KafkaConsumer  # noqa: PLC0415 - only a checking thread needs it

            client.append(KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000))
        return client[0].topics()

    return check


def on_store(error: BaseException) -> bool:
    """Whether ``error`` is the store's (PostgreSQL away, a statement refused), rather
    than the broker's or a timeout's."""
    return isinstance(error, STORE_ERRORS) and not isinstance(error, TimeoutError)


class Vitals:
    """How a background process's loop goes, and whether that is serving."""

    def __init__(
        self,
        store: Callable[[], object] = lambda: None,
        broker: Callable[[], object] | None = None,
        *,
        period: float = 1.0,
        grace: float = GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store  # a cheap read of the store (it raises when the store is away)
        self.broker = broker  # a metadata request (None: the broker is not asked)
        self.period = period  # how often the loop comes round at most, when all is well
        self.grace = grace
        self.clock = clock
        self.lock = threading.Lock()
        self.started = False
        self.halted = False
        self.last_round: float | None = None
        self.store_failed = False  # a step failed on the store since the last one done
        self.broker_failing_since: float | None = None
        self.store_answered: float | None = None  # the store's last answer to a check
        self.store_reachable = False
        self.broker_answered: float | None = None  # the broker's last answer to a check
        self.broker_reachable = False
        self.stopping = threading.Event()

    def done(self) -> None:
        """A step went through end to end."""
        with self.lock:
            self.started = True
            self.last_round = self.clock()
            self.store_failed = False
            self.broker_failing_since = None

    def beat(self) -> None:
        """The loop came round (nothing to do, or waiting to try again)."""
        with self.lock:
            self.last_round = self.clock()

    def failed(self, error: BaseException) -> None:
        """A step failed; it will be tried again."""
        with self.lock:
            now = self.last_round = self.clock()
            if on_store(error):
                self.store_failed = True
            elif self.broker_failing_since is None:
                self.broker_failing_since = now

    def stopped(self) -> None:
        """The process stops (or stopped on an error): never serving again."""
        with self.lock:
            self.halted = True
        self.stopping.set()

    def check_store(self) -> None:
        """Ask the store whether it answers (in the checking thread)."""
        try:
            self.store()
        except STORE_ERRORS as error:
            with self.lock:
                if self.store_reachable:
                    log.warning("the store does not answer: not serving (%s)", error)
                self.store_reachable = False
        else:
            with self.lock:
                self.store_answered = self.clock()
                self.store_reachable = True

    def check_broker(self) -> None:
        """Ask the broker whether it answers (in the broker's checking thread)."""
        if self.broker is None:
            return
        try:
            self.broker()
        except Exception as error:  # noqa: BLE001 - whatever it is, the broker did not answer
            with self.lock:
                was, self.broker_reachable = self.broker_reachable, False
            if was:
                log.warning("the broker does not answer (%s)", error)
        else:
            with self.lock:
                self.broker_answered = self.clock()
                self.broker_reachable = True

    def start_checking(self) -> None:
        """:meth:`check_store` every :data:`STORE_CHECK_SECONDS` and :meth:`check_broker`
        every :data:`BROKER_CHECK_SECONDS`, each in a thread of its own (one that hangs
        holds the other up in nothing), until :meth:`stopped`."""

        def checking(check: Callable[[], None], every: float) -> None:
            while not self.stopping.is_set():
                check()
                self.stopping.wait(every)

        for name, check, every in (
            ("store-check", self.check_store, STORE_CHECK_SECONDS),
            ("broker-check", self.check_broker, BROKER_CHECK_SECONDS),
        ):
            threading.Thread(target=checking, args=(check, every), name=name, daemon=True).start()

    def serving(self) -> bool:
        """Whether the process is doing its job now (the module's rules)."""
        with self.lock:
            now = self.clock()
            if self.halted or not self.started or self.last_round is None:
                return False
            if not self.store_reachable or self.store_answered is None:
                return False
            if now - self.store_answered > STORE_STALE_SECONDS or self.store_failed:
                return False
            broker = self.broker_failing_since
            if broker is not None and now - broker > self.grace:
                return False
            if self.broker is not None and (
                self.broker_answered is None or now - self.broker_answered > self.grace
            ):
                return False
            return now - self.last_round <= self.period + self.grace
