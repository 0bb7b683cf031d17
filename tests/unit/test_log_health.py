"""When the log's health says SERVING: the tree close enough behind the log, and the
latest checkpoint young enough unless the log did not grow since it."""

from __future__ import annotations

import datetime as dt

import pytest

from services.app.checkpointer import LogLimits, LogStatus
from services.store.database import ConfigurationError
from services.store.tlog import Kept

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
