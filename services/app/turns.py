"""Turns: one lock per key, so that this process's writers of one subject take turns.

Without them, concurrent writers of a subject race: each loads it, all but one lose
at insert time, reload and try again — and under hundreds of them some lose every
time. A lock is made when a key is first wanted and dropped when nobody holds or
waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key → (lock, holders + waiters)

    @contextmanager
    def of(self, key: str) -> Iterator[None]:
        """Hold ``key``'s turn (waiting for it) for the duration of the block."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[key][1] - 1
                if users:
                    self._locks[key] = (lock, users)
                else:
                    del self._locks[key]
