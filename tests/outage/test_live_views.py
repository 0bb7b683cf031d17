"""Live views (:class:`projections.engine.live.LiveViews`, as the API server follows
the log) on a PostgreSQL that goes away and comes back: they wait it out — saying so
once, without a traceback — then read their rows back from their tables and follow
the log again, woken by the NOTIFY of a LISTEN connection opened afresh. An event
that cannot be applied still stops them for good."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any, Self, cast

import psycopg
import pytest
from psycopg import sql

from projections.engine.live import STORE_AWAY, LiveViews, ViewsStoppedError
from projections.engine.runner import postgres_recorder
from projections.task_status import TaskStatusView
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, submit
from tests.conftest import PLANS, REGISTRY
from tests.outage.conftest import CONNECT_TIMEOUT, DEADLINE, Server, wait_until

TASK = "phuoc-binh-2026/task/24"
HEALTH = "phuoc-binh.health-post"
DAY = dt.date(2026, 3, 2)


@pytest.fixture
def app(postgres_server: Server) -> Iterator[Ledger]:
    application = Ledger(env={**postgres_server.store.eventsourcing_env(), **CONNECT_TIMEOUT})
    import_plans(application, PLANS, REGISTRY)
    yield application
    application.close()


def reported(app: Ledger, percent: int) -> int:
    """A progress report on :data:`TASK`, submitted until acknowledged (the same event
    id each time: the pool may still hand out a connection the restart broke); the
    log's last position then."""
    command = Command(
        str(uuid.uuid4()),
        "progress_reported",
        TASK,
        Actor(HEALTH, channel="test"),
        {"percent": percent, "as_of": DAY},
    )
    outcome: list[str] = []

    def acknowledged() -> bool:
        try:
            outcome.append(submit(app, command).outcome)
        except STORE_AWAY:
            return False
        return True

    wait_until(acknowledged, "the report acknowledged")
    assert outcome[-1] in {"accepted", "duplicate"}
    return app.recorder.max_notification_id() or 0


class Following:
    """A :class:`LiveViews` of the task status (rows in memory) followed in a thread
    with no event loop: what it commits and what it says of the store, in queues."""

    def __init__(self, app: Ledger) -> None:
        self.app = app
        self.live = LiveViews(app, {TaskStatusView.name: TaskStatusView})
        # Only a NOTIFY (or a failure) wakes the follower: it never polls in this test.
        self.live.wait_seconds = 3600
        self.committed: queue.Queue[int] = queue.Queue()
        self.live.subscribers.add(lambda _changes, position: self.committed.put(position))
        self.store: queue.Queue[bool] = queue.Queue()
        self.live.on_store.append(self.store.put)
        self.live.catch_up()
        self.thread = threading.Thread(target=self.live.follow, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stopping.set()
        if self.thread.is_alive():  # waiting for a NOTIFY: one wakes it
            notify(self.app)
        self.thread.join(timeout=DEADLINE)
        assert not self.thread.is_alive()

    def reaches(self, position: int) -> None:
        """Until the follower has committed ``position`` (fails after the deadline)."""
        seen = 0
        while seen < position:
            seen = self.committed.get(timeout=DEADLINE)

    def percent(self) -> Any:
        return self.live.rows(TaskStatusView.name)[TASK]["percent"]


def notify(app: Ledger) -> None:
    """A NOTIFY on the log's channel (wakes a follower waiting for one)."""
    recorder = postgres_recorder(app)
    pool_settings = cast("dict[str, Any]", recorder.datastore.pool.kwargs)
    settings = {k: v for k, v in pool_settings.items() if k != "row_factory"}
    with psycopg.connect(**settings, autocommit=True) as conn:
        conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(recorder.channel_name)))


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_live_views_wait_out_a_lost_database_and_its_listen_wakes_them_after_the_restart(
    postgres_server: Server, app: Ledger, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="projections.engine.live")
    with Following(app) as following:
        following.reaches(reported(app, 30))
        assert following.percent() == 30

        if how == "killed":
            postgres_server.instance.kill()  # -9: the postmaster and every backend
        else:
            postgres_server.instance.stop("fast")  # the server terminates every session
        assert following.store.get(timeout=DEADLINE) is True  # away: noticed
        # the rows in memory stand while it is away; the follower waits, alive
        assert following.percent() == 30
        assert following.thread.is_alive()

        postgres_server.instance.start()  # the same data directory and socket
        assert following.store.get(timeout=DEADLINE) is False  # back, caught up
        # a new event: only the NOTIFY of a LISTEN opened after the restart wakes it
        following.reaches(reported(app, 60))
        assert following.percent() == 60
        assert following.live.failure is None

    said = [r for r in caplog.records if r.levelno >= logging.INFO]
    away = [r for r in said if "the database is away" in r.getMessage()]
    back = [r for r in said if "the database is back" in r.getMessage()]
    assert (len(away), len(back)) == (1, 1), [r.getMessage() for r in said]
    assert not [r for r in said if r.exc_info], "an outage is no traceback"
    assert not [r for r in said if r.levelno >= logging.ERROR]


def test_live_views_that_start_while_the_database_is_away_follow_once_it_is_back(
    postgres_server: Server, app: Ledger
) -> None:
    following = Following(app)  # caught up while the database was there
    postgres_server.instance.stop("fast")
    with following:
        assert following.store.get(timeout=DEADLINE) is True  # the first LISTEN failed
        postgres_server.instance.start()
        assert following.store.get(timeout=DEADLINE) is False
        following.reaches(reported(app, 45))
        assert following.percent() == 45


class Unappliable(TaskStatusView):
    """A view with a bug: it cannot apply a report of 77 %."""

    def apply(self, position: int, event: Any, /) -> None:
        if getattr(event, "percent", None) == 77:
            msg = f"cannot project position {position}"
            raise RuntimeError(msg)
        super().apply(position, event)


def test_an_event_that_cannot_be_applied_still_stops_the_views_for_good(
    postgres_server: Server, app: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an outage: no retry, the follower ends and says so, loudly."""
    live = LiveViews(app, {TaskStatusView.name: Unappliable})
    live.wait_seconds = 3600
    stopped: list[ViewsStoppedError] = []
    live.on_stop.append(stopped.append)
    store: list[bool] = []
    live.on_store.append(store.append)
    live.catch_up()
    follower = threading.Thread(target=live.follow, daemon=True)
    follower.start()
    try:
        reported(app, 77)
        follower.join(timeout=DEADLINE)
        assert not follower.is_alive()  # it stopped by itself
    finally:
        live.stopping.set()
        if follower.is_alive():
            notify(app)
            follower.join(timeout=DEADLINE)
    assert len(stopped) == 1
    assert live.failure is stopped[0]
    assert store == []  # the database never went
    assert "live views stopped at position" in caplog.text
    assert any(r.levelno == logging.CRITICAL and r.exc_info for r in caplog.records)
