"""Views kept current inside one process by following the log: in the API server
every view, with an in-memory copy of its rows to answer queries from; in
``lienthong projections follow VIEW`` one view, kept in its table only.

At start the views catch up as a rebuild does
(:func:`projections.engine.runner.catch_up_apart`: the audit trail in a process of its
own when the log is long); each view's rows and position are
then read in one snapshot. The process then follows the log (LISTEN/NOTIFY, and at
least every ``wait_seconds``): each batch of new events is decoded once, applied to
every view (the runner's :class:`~projections.engine.runner.Dispatch`), and the
changed rows of all views and their new positions are written in ONE transaction by
the one writer of view tables (:func:`projections.engine.tables.write_all`). Each
tracking row is moved by compare-and-set on the position this process last saw, so
another writer (another server, ``lienthong projections follow``, a catch-up) is
noticed — during the catch-up at start too: nothing of that batch is written, and
every view is read back from its table and followed afresh from there, never moved
backwards.

Only after the commit are the changes handed to the event loop (``publish``), which
updates the in-memory rows, wakes whoever waits for a position and tells the
subscribers (Watch streams): queries served on the loop always see rows as a whole
batch left them, in step with what was committed. Views too large for memory (the
audit trail) are kept in their tables only.

Read-only (``read_only``: the log is read from a hot standby, which takes no writes and
no LISTEN): each view starts from its table as replicated from the primary (empty when
nobody writes it there: the whole log is applied), then follows the log by polling
every :data:`POLL_SECONDS`, keeping its rows in memory only — nothing is written. The
views kept in their tables only are not followed: they are read as the primary's
followers write them (docs/operations.md "Replication and failover").

When the database goes away (connection refused or lost, the server killed or
restarted, a pool that cannot connect: :data:`STORE_AWAY`), the follower waits it out,
whatever step it was at: it says so once (a WARNING, no traceback), tries again with
a growing pause (:data:`RETRY_FIRST_SECONDS` doubling up to :data:`RETRY_MAX_SECONDS`),
and once the database answers again it re-opens its LISTEN connection, reads every
view back from its table (a batch whose commit was cut off is in the table whole or
not at all) and follows the log from there; a line says when it is back. Meanwhile
the rows in memory stand, as the last committed batch left them, and queries keep
answering from them; ``on_store`` callbacks hear (on the loop) when the store went
away and when the views are caught up again (the server's health:
:func:`services.grpc.server.store_health`), and :meth:`LiveViews.require_store`
refuses the server's writes at once while the follower's last try met the database
away. Read-only, "the database" is the standby the log is read from: the rows stand,
nothing is read back, and writes (to the primary) are not refused on its account.
An event that cannot be applied is no outage: the views stop for good, loudly
(:meth:`LiveViews.halt`) — retrying it forever would hide a bug.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from psycopg import sql

from projections.engine.audit_log import CORRECTION_TOPICS
from projections.engine.replay import share_replay
from projections.engine.rows import Changes, Row
from projections.engine.runner import (
    BATCH,
    Dispatch,
    LogReader,
    ProjectionRunner,
    View,
    ViewFactory,
    apply_events,
    catch_up_apart,
    postgres_recorder,
)
from projections.engine.source import EventSource
from projections.engine.tables import TrackingMovedError, encoded, write_all

log = logging.getLogger(__name__)
TABLE_ONLY = frozenset({"audit_trail"})
POLL_SECONDS = 0.1  # read-only: how often the log is looked at (a standby has no NOTIFY)
RETRY_FIRST_SECONDS = 0.1  # the database away: the first pause before trying again…
RETRY_MAX_SECONDS = 2.0  # …doubling up to this
LISTEN_CONNECT_SECONDS = 10  # the LISTEN connection's connect timeout
STORE_AWAY: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OperationalError,
    InterfaceError,
)
"""What the store raises while PostgreSQL is away or unreachable — connection refused,
terminated or lost, the server restarting or in recovery, no connection from the pool
in time — as psycopg raises it and as the eventsourcing library wraps it: waited out,
never taken for an event that cannot be applied. (A lock or statement timeout is one
too: the same batch is tried again.)"""
Subscriber = Callable[[Changes, int], None]
# The predicates of the audit trail's partial indexes: a query uses one word for word.
LATE_ONLY = "data->>'late' = 'true'"
CORRECTIONS_ONLY = "data->>'topic' IN ({})".format(", ".join(f"'{t}'" for t in CORRECTION_TOPICS))
AUDIT_INDEXES = {
    "rows_subject": "((data->>'subject'), key)",
    "rows_plan": "((split_part(data->>'subject', '/', 1)), key)",
    "rows_actor": "((data->>'actor'), key)",
    "rows_recorded_at": "((data->>'recorded_at'))",
    # late reports and corrections, per plan and per agency
    "rows_plan_late": f"((split_part(data->>'subject', '/', 1)), key) WHERE {LATE_ONLY}",
    "rows_actor_late": f"((data->>'actor'), key) WHERE {LATE_ONLY}",
    "rows_plan_corrections": (
        f"((split_part(data->>'subject', '/', 1)), key) WHERE {CORRECTIONS_ONLY}"
    ),
    "rows_actor_corrections": f"((data->>'actor'), key) WHERE {CORRECTIONS_ONLY}",
}


@dataclass
class Outage:
    """The database away, as the follower waits it out: since when, how many tries."""

    since: float
    attempts: int = 1

    def pause(self) -> float:
        """Before the next try: :data:`RETRY_FIRST_SECONDS`, doubling each try up to
        :data:`RETRY_MAX_SECONDS`."""
        return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** min(self.attempts - 1, 16))


class StoreAwayError(OperationalError):
    """The database is away — the views' follower could not reach it at its last try
    (:meth:`LiveViews.require_store`): a write is refused at once instead of waiting
    for a connection that will not come (one of :data:`STORE_AWAY`)."""


class ViewsStoppedError(Exception):
    """The views met an event they cannot apply and stopped: what waits for them to
    hold a write never will (the write itself is recorded)."""


@dataclass
class Followed:
    """One view as this process follows it: its runner (the view and its table),
    the position it has committed and, kept in memory, its rows."""

    runner: ProjectionRunner
    position: int = 0
    rows: dict[str, Row] = field(default_factory=dict)
    in_memory: bool = True


class LiveViews:
    def __init__(
        self,
        app: EventSource,
        views: Mapping[str, ViewFactory],
        table_only: Collection[str] = TABLE_ONLY,
        *,
        read_only: bool = False,
    ) -> None:
        """Follow ``views``; those named in ``table_only`` keep no rows in memory
        (``read_only``: they are not followed, and the others write nothing)."""
        self.app = app
        self.read_only = read_only
        if read_only:
            views = {name: view for name, view in views.items() if name not in table_only}
        self.factories = views
        self.followed = {
            name: Followed(self.runner(name), in_memory=name not in table_only) for name in views
        }
        self.replay = share_replay(self.views())
        self.dispatch = Dispatch(self.views())
        self.reader = LogReader(app)
        self.position = 0  # every view has committed at least this far
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.wait_seconds = POLL_SECONDS if read_only else 1.0
        self.failure: ViewsStoppedError | None = None  # set (on the loop) when they stop
        self.on_stop: list[Callable[[ViewsStoppedError], None]] = []
        # the database away (True) and back with the views caught up (False), on the loop
        self.store_away = False
        self.on_store: list[Callable[[bool], None]] = []
        # the follower's last try met the database away (set and read in any thread)
        self.unreachable = False
        self.outage: Outage | None = None  # the follower's, while the database is away

    def runner(self, name: str) -> ProjectionRunner:
        return ProjectionRunner(self.app, self.factories[name](self.app))

    def views(self) -> list[View]:
        """The views followed, in the order of ``followed``."""
        return [followed.runner.view for followed in self.followed.values()]

    def rows(self, view: str) -> dict[str, Row]:
        """The in-memory rows of a view (read them on the event loop)."""
        return self.followed[view].rows

    # Start ---------------------------------------------------------------------

    def catch_up(self) -> None:
        """Bring every view up to the log, then read its rows and position."""
        if self.read_only:
            for followed in self.followed.values():
                followed.position, followed.rows = self.replicated(followed)
            self.step()
            return
        try:
            catch_up_apart([followed.runner for followed in self.followed.values()])
        except TrackingMovedError as moved:
            # that batch was not written; the follow loop applies what the tables lack
            log.warning("%s; reading the views back", moved)
            self.reload(self.followed)
            self.ensure_audit_indexes()
        else:
            # PostgreSQL builds the audit trail's indexes while the views are read back
            with ThreadPoolExecutor(1, thread_name_prefix="audit-indexes") as indexing:
                indexed = indexing.submit(self.ensure_audit_indexes)
                for followed in self.followed.values():
                    followed.position, followed.rows = followed.runner.table.snapshot(
                        followed.in_memory
                    )
                indexed.result()
        if self.replay is not None:
            # The aggregates a first start replayed (a province's every task and
            # indicator: ~90 MiB for 100 wards) are let go: the follower loads one from
            # the store when an event of it comes, as after a restart.
            self.replay.aggregates.clear()
        self.position = min((f.position for f in self.followed.values()), default=0)

    @staticmethod
    def replicated(followed: Followed) -> tuple[int, dict[str, Row]]:
        """A view's position and rows as its table holds them (nothing when the
        primary never made the table)."""
        try:
            return followed.runner.table.snapshot(with_rows=True)
        except (psycopg.errors.UndefinedTable, ProgrammingError) as error:
            if not isinstance(error.__cause__ or error, psycopg.errors.UndefinedTable):
                raise
            return 0, {}

    def ensure_audit_indexes(self) -> None:
        if "audit_trail" not in self.followed:
            return
        table = self.followed["audit_trail"].runner.table
        with table.cursor() as cursor:
            for index, expression in AUDIT_INDEXES.items():
                cursor.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.rows " + expression).format(
                        sql.Identifier(index), table.schema
                    )
                )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow the log in a thread; changes are handed to ``loop``."""
        self.loop = loop
        self.thread = threading.Thread(target=self.follow, name="live-views", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    # Following -------------------------------------------------------------------

    def follow(self, stop_on_error: bool = False) -> None:
        """Apply the log as it grows until :meth:`stop`. When the database is away
        (:data:`STORE_AWAY`, whether reading the log, writing the views, listening or
        connecting), the outage is waited out (:class:`Outage`): then the LISTEN
        connection is opened again, every view is read back from its table (read-only:
        the rows in memory stand, nothing was written) and followed from there. When an
        event cannot be applied, the views stop for good, loudly (:meth:`halt`). With
        ``stop_on_error`` either error propagates instead (every table keeps the last
        batch committed): ``lienthong projections follow`` exits, for its supervisor
        to start it again."""
        while not self.stopping.is_set():
            try:
                self.connected()
            except STORE_AWAY as error:
                if stop_on_error:
                    raise
                if self.stopping.is_set():  # the store closed as the process stops
                    return
                self.outage = self.away(self.outage, error)
                self.stopping.wait(self.outage.pause())
            except Exception as error:
                if stop_on_error:
                    raise
                self.halt(error)
                return

    def connected(self) -> None:
        """Follow the log on a new LISTEN connection until :meth:`stop` or a failure;
        after an outage, the views read back from their tables first, and the outage
        over once they have caught up."""
        if self.outage is not None:
            self.check_pool()
        with self.wakeups() as wait:
            self.unreachable = False  # it takes connections again
            if self.outage is not None and not self.read_only:
                self.reload(self.followed)
            while not self.stopping.is_set():
                self.step()
                if self.outage is not None:  # caught up with the log again
                    self.back(self.outage)
                    self.outage = None
                wait()

    def require_store(self) -> None:
        """Raise :class:`StoreAwayError` when the follower's last try met the database
        away (until it connects again: at most :data:`RETRY_MAX_SECONDS` after the
        database is back); read-only, never (the log is read from a standby, writes go
        elsewhere)."""
        if self.unreachable and not self.read_only:
            msg = "the database is away (the live views cannot reach it); try again later"
            raise StoreAwayError(msg)

    def check_pool(self) -> None:
        """The store's pooled connections that the outage broke are replaced
        (psycopg_pool's ``check``), lest the views — and the server's writes, which
        share the pool — meet them one by one once the database is back."""
        datastore = getattr(self.app.recorder, "datastore", None)
        pool = getattr(datastore, "pool", None)
        if pool is not None:
            pool.check()

    def away(self, outage: Outage | None, error: Exception) -> Outage:
        """The database failed: said once per outage (no traceback: it is no bug),
        then only counted."""
        self.unreachable = True
        if outage is None:
            log.warning(
                "live views: the database is away (%s: %s); the views keep their rows "
                "in memory at position %d and try again every %.1f s at most",
                type(error).__name__,
                str(error).strip().splitlines()[0] if str(error).strip() else "",
                self.position,
                RETRY_MAX_SECONDS,
            )
            self.tell_store(away=True)
            return Outage(time.monotonic())
        outage.attempts += 1
        log.debug("live views: the database still away: %s", error)
        return outage

    def back(self, outage: Outage) -> None:
        """The database answers again and the views hold the log as it is: said once."""
        log.warning(
            "live views: the database is back after %.1f s (%d attempts); the views were "
            "read back from their tables and caught up to position %d",
            time.monotonic() - outage.since,
            outage.attempts,
            min(f.position for f in self.followed.values()),
        )
        self.tell_store(away=False)

    def tell_store(self, *, away: bool) -> None:
        if self.loop is None:
            self.stored(away)
        else:
            self.loop.call_soon_threadsafe(self.stored, away)

    def stored(self, away: bool) -> None:
        """On the loop: the database away, or back with the views caught up."""
        self.store_away = away
        for callback in self.on_store:
            callback(away)

    @contextmanager
    def wakeups(self) -> Iterator[Callable[[], None]]:
        """What the follower waits on between steps: a NOTIFY of the log (or
        ``wait_seconds``); read-only, ``wait_seconds`` (a standby cannot LISTEN). The
        LISTEN connection fails as the database goes (:data:`STORE_AWAY`); a new one
        is opened each time the follower starts again."""
        if self.read_only:

            def pause() -> None:
                self.stopping.wait(self.wait_seconds)

            yield pause
            return
        recorder = postgres_recorder(self.app)
        pool_settings = cast("dict[str, Any]", recorder.datastore.pool.kwargs)
        settings = {k: v for k, v in pool_settings.items() if k != "row_factory"}
        settings.setdefault("connect_timeout", LISTEN_CONNECT_SECONDS)  # an unreachable host
        with psycopg.connect(**settings, autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(recorder.channel_name)))

            def wait() -> None:
                for _ in listener.notifies(timeout=self.wait_seconds, stop_after=1):
                    pass

            yield wait

    def halt(self, error: Exception) -> None:
        """The views met an event they cannot apply: they stop where their tables are,
        and whoever waits for them, or asks later, hears so at once."""
        log.critical(
            "live views stopped at position %d: an event cannot be applied",
            self.position,
            exc_info=error,
        )
        stopped = ViewsStoppedError(
            f"the views stopped at position {self.position}: an event cannot be applied "
            f"({type(error).__name__}); the operator is needed"
        )
        if self.loop is None:
            self.stopped(stopped)
        else:
            self.loop.call_soon_threadsafe(self.stopped, stopped)

    def stopped(self, error: ViewsStoppedError) -> None:
        """On the loop: every waiter fails, every stop callback is told."""
        self.failure = error
        waiters, self.waiters = self.waiters, []
        for _, future in waiters:
            if not future.done():
                future.set_exception(error)
        for callback in self.on_stop:
            callback(error)

    def step(self, batch: int = BATCH) -> int:
        """Apply what the log holds beyond the views; returns how many events."""
        applied = 0
        start = min(f.position for f in self.followed.values())
        while events := self.reader.read(start, batch):
            apply_events(events, self.dispatch, [f.position for f in self.followed.values()])
            last = events[-1][0]
            changes = {name: f.runner.view.flush() for name, f in self.followed.items()}
            try:
                self.commit(changes, last)
            except TrackingMovedError as moved:
                # nothing was written; every view read back and followed from there
                log.warning("%s; reading the views back", moved)
                self.reload(self.followed)
            else:
                applied += len(events)
            start = min(f.position for f in self.followed.values())
        return applied

    def commit(self, changes: Changes, last: int) -> None:
        """Every view's changed rows and new position in one transaction (none of
        them when another writer moved one: :class:`TrackingMovedError`; read-only,
        nothing written); then the changes go to the loop."""
        if not self.read_only:
            write_all(
                [
                    (followed.runner.table, encoded(changes[name]), followed.position)
                    for name, followed in self.followed.items()
                ],
                last,
            )
        for followed in self.followed.values():
            followed.position = max(followed.position, last)
        in_memory = {k: v for k, v in changes.items() if v and self.followed[k].in_memory}
        self.hand_over(in_memory, min(f.position for f in self.followed.values()))

    def reload(self, names: Iterable[str]) -> None:
        """Views read back from their tables and followed afresh from there."""
        reloaded: Changes = {}
        names = list(names)
        for name in names:
            followed = self.followed[name]
            followed.runner = self.runner(name)
            followed.position, rows = followed.runner.table.snapshot(followed.in_memory)
            if followed.in_memory:
                held = list(followed.rows)  # the loop may be changing them
                gone: dict[str, Row | None] = {k: None for k in held if k not in rows}
                reloaded[name] = {**gone, **rows}
        if set(names) >= set(self.followed):  # all fresh: they may share one replay again
            self.replay = share_replay(self.views())
        self.dispatch = Dispatch(self.views())  # the views are new
        self.hand_over(reloaded, min(f.position for f in self.followed.values()))

    # On the event loop -----------------------------------------------------------

    def hand_over(self, changes: Changes, position: int) -> None:
        if self.loop is None:
            self.publish(changes, position)
        else:
            self.loop.call_soon_threadsafe(self.publish, changes, position)

    def publish(self, changes: Changes, position: int) -> None:
        """Apply committed changes to the in-memory rows and tell everyone (loop only)."""
        for name, rows in changes.items():
            followed = self.followed[name]
            for key, row in rows.items():
                if row is None:
                    followed.rows.pop(key, None)
                else:
                    followed.rows[key] = row
        self.position = position
        for subscriber in list(self.subscribers):
            subscriber(changes, position)
        ready = [w for w in self.waiters if w[0] <= position]
        self.waiters = [w for w in self.waiters if w[0] > position]
        for _, future in ready:
            if not future.done():
                future.set_result(None)

    async def reached(self, position: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait (bounded) until every view has applied ``position``; raises
        :class:`ViewsStoppedError` at once when the views have stopped."""
        if self.failure is not None:
            raise self.failure
        if self.position >= position:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append((position, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        return True

    async def settle(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Wait (bounded) until the views hold everything recorded so far: a writer
        reads its own writes. False at once while the database is away (what the
        writer met then is its answer, not a second wait for the store)."""
        if self.store_away:
            return False
        try:
            last = await asyncio.to_thread(self.app.recorder.max_notification_id)
        except STORE_AWAY:
            return False
        return await self.reached(last or 0, timeout)
