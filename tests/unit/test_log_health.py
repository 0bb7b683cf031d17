"""When the log's health says SERVING: the tree close enough behind the log, and the
latest checkpoint young enough unless the log did not grow since it; and how the
checkpointer speaks of its store being away."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

import psycopg
import pytest

from services.app import checkpointer
from services.app.checkpointer import Checkpointer, LogLimits, LogStatus
from services.store.database import ConfigurationError
from services.store.tlog import Head, Kept

LIMITS = LogLimits(checkpoint_seconds=10, max_lag=100, max_age_seconds=60)
MADE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def status(stored: int, lag: int, checkpoint: int | None, age: float | None) -> LogStatus:
    kept = Kept("note", checkpoint, b"", MADE, 1) if checkpoint is not None else None
    return LogStatus(stored - lag, stored, lag, kept, age)


@pytest.mark.parametrize(
    ("case", "healthy"),
    [
        (status(0, 0, None, None), True),  # an empty log
        (status(500, 0, 500, 10_000), True),  # nothing new since an old checkpoint
        (status(500, 100, 400, 30), True),  # at the limits
        (status(500, 101, 400, 30), False),  # too far behind
        (status(500, 0, 400, 61), False),  # grew since a checkpoint too old
        (status(500, 0, None, None), False),  # grew, never checkpointed
    ],
)
def test_the_log_is_healthy_within_its_limits(case: LogStatus, healthy: bool) -> None:
    assert case.healthy(LIMITS) is healthy


def test_the_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LogLimits.from_env() == LogLimits()
    monkeypatch.setenv("LIENTHONG_TREE_MAX_LAG", "7")
    monkeypatch.setenv("LIENTHONG_CHECKPOINT_SECONDS", "0.5")
    assert LogLimits.from_env() == LogLimits(checkpoint_seconds=0.5, max_lag=7)
    monkeypatch.setenv("LIENTHONG_CHECKPOINT_MAX_AGE_SECONDS", "soon")
    with pytest.raises(ConfigurationError):
        LogLimits.from_env()


class AwayTree:
    """A tree whose store is away for its first ``away`` updates, then back."""

    def __init__(self, away: int) -> None:
        self.away = away
        self.updates = 0

    def update(self) -> None:
        self.updates += 1
        if self.updates <= self.away:
            msg = "connection refused\nIs the server running on that host?"
            raise psycopg.OperationalError(msg)

    def head(self) -> Head:
        return Head(0, 0)

    def lag(self) -> int:
        return 0

    def latest_checkpoint(self) -> None:
        return None

    def status(self) -> tuple[Head, int, None]:
        return self.head(), self.lag(), self.latest_checkpoint()


def test_the_checkpointer_says_an_outage_once_and_once_when_it_is_over(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpointer, "RETRY_FIRST_SECONDS", 0.001)
    monkeypatch.setattr(checkpointer, "RETRY_MAX_SECONDS", 0.002)
    tree = AwayTree(away=4)
    follower = Checkpointer(cast("Any", tree), cast("Any", None), LogLimits())
    caplog.set_level(logging.DEBUG, logger=checkpointer.__name__)
    follower.run(then=follower.stop)
    assert tree.updates == 5
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert said[0][0] == logging.WARNING
    assert "OperationalError: connection refused" in said[0][1]
    assert said[1][0] == logging.INFO
    assert said[1][1].startswith("following the log's tree again after")
    assert len(said) == 2  # the four failures: one warning, their tracebacks at debug
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)
