"""Faults under load, on a real PostgreSQL and a real broker: every run ends with every
event id exactly once (one receipt each, every accepted report applied once), with no
hand help. The PostgreSQL of this module is its own (it gets killed); the watchdog
started with it (``services.store.watchdog``) brings it back, as in production."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from kafka import KafkaConsumer
from lienthong.v1 import resources_pb2

from lienthong_sdk import envelopes
from lienthong_sdk.agency import AgencyClient
from lienthong_sdk.verdicts import Verdict
from services.app.audit import load_signer
from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.store.database import Database, embedded_server, postmaster_alive
from tests.conftest import PLANS, REGISTRY
from tests.identities import enrol, folder, identity, signed
from tests.kafka.test_checkpointer import CheckpointerProcess, Log, assert_published, environment
from tests.kafka.test_full_mode import serving
from tests.kafka.test_ingestion import (
    DEADLINE_S,
    LEADS,
    PB,
    RECEIPTS,
    Worker,
    keyed,
    many_envelopes,
    produce,
    receipts,
    wait_for,
)
from tests.kafka_broker import restart

ENVELOPES = 3_000


@pytest.fixture(scope="module")
def pgdata() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lienthong-faults-pg-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def postgres(pgdata: Path) -> Iterator[Database]:
    """This module's own server (overrides the session's: these tests kill it)."""
    with embedded_server(pgdata) as database:
        yield database


@pytest.fixture
def store(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    enrol(app)
    return app


def receipt_count(database: Database) -> int:
    """Receipts in the store, on a connection of its own; 0 while the server is away."""
    try:
        with psycopg.connect(database.conninfo()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM lienthong_events WHERE topic = ANY(%s)", (RECEIPTS,)
            ).fetchone()
    except psycopg.OperationalError:
        return 0
    return int(row[0]) if row else 0


def postmaster_pid(pgdata: Path) -> int:
    """The running postmaster's pid; 0 while none runs."""
    pg = pgdata / "pg"
    return int((pg / "postmaster.pid").read_text().split()[0]) if postmaster_alive(pg) else 0


def logged(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def assert_every_event_id_once(database: Database, sent: list[object]) -> None:
    """One receipt per event id sent, and every accepted report applied exactly once."""
    assert_every_event_id_once_of_tasks(database, sent, list(LEADS))


def assert_every_event_id_once_of_tasks(
    database: Database, sent: list[object], tasks: list[str]
) -> None:
    app = Ledger(env=database.eventsourcing_env())
    try:
        found = receipts(app)
        assert sorted(r.event_id for r in found) == sorted(m.event_id for m in sent)  # type: ignore[attr-defined]
        accepted = sum(1 for r in found if r.outcome == "accepted")
        reports = sum(
            [e["topic"] for e in app.events_of(f"{PB}/task/{task}")].count(
                "lienthong.task.ProgressReported"
            )
            for task in tasks
        )
        assert reports == accepted
    finally:
        app.close()


def start_worker(
    database: Database, broker: tuple[Path, int, str], prefix: str, log: Path
) -> Worker:
    worker = Worker(database, broker[2], prefix, log)
    worker.start()
    return worker


@pytest.fixture
def worker(
    store: Ledger, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> Iterator[Worker]:
    running = start_worker(database, broker, prefix, tmp_path / "worker.log")
    yield running
    running.stop()


def test_kill_9_of_postgresql_mid_run_loses_and_doubles_nothing(
    worker: Worker, database: Database, broker: tuple[Path, int, str], prefix: str, pgdata: Path
) -> None:
    sent = many_envelopes(ENVELOPES, seed=11)
    produce(broker[2], f"{prefix}agency-events", [keyed(m) for m in sent])
    wait_for(lambda: receipt_count(database) >= ENVELOPES // 6, "the run under way")
    os.kill(postmaster_pid(pgdata), signal.SIGKILL)
    wait_for(lambda: logged(worker.log, "storing a batch failed"), "the worker to meet the loss")
    wait_for(lambda: receipt_count(database) >= ENVELOPES, "a receipt per envelope")
    assert_every_event_id_once(database, sent)


def test_a_clean_postgresql_restart_mid_run_loses_and_doubles_nothing(
    worker: Worker, database: Database, broker: tuple[Path, int, str], prefix: str, pgdata: Path
) -> None:
    sent = many_envelopes(ENVELOPES, seed=12)
    produce(broker[2], f"{prefix}agency-events", [keyed(m) for m in sent])
    wait_for(lambda: receipt_count(database) >= ENVELOPES // 6, "the run under way")
    stop_postgres(pgdata)
    wait_for(lambda: logged(worker.log, "storing a batch failed"), "the worker to meet the stop")
    wait_for(lambda: receipt_count(database) >= ENVELOPES, "a receipt per envelope")
    assert_every_event_id_once(database, sent)


def stop_postgres(pgdata: Path) -> None:
    """A clean (fast) shutdown: SIGINT to the postmaster, as ``pg_ctl stop -m fast``."""
    pid = postmaster_pid(pgdata)
    os.kill(pid, signal.SIGINT)
    wait_for(lambda: postmaster_pid(pgdata) != pid, "PostgreSQL to stop (and come back)")


def test_kill_9_of_a_worker_again_and_again_beside_a_second_one_loses_and_doubles_nothing(
    worker: Worker, database: Database, broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    second = start_worker(database, broker, prefix, tmp_path / "second.log")
    try:
        sent = many_envelopes(ENVELOPES, seed=13)
        produce(broker[2], f"{prefix}agency-events", [keyed(m) for m in sent])
        for share in (6, 3, 2):
            wait_for(lambda s=share: receipt_count(database) >= ENVELOPES // s, "more receipts")
            worker.kill()
            worker.start()
        wait_for(lambda: receipt_count(database) >= ENVELOPES, "a receipt per envelope")
    finally:
        second.stop()
    assert_every_event_id_once(database, sent)


def test_a_broker_restart_mid_run_loses_and_doubles_nothing(
    worker: Worker, database: Database, broker: tuple[Path, int, str], prefix: str
) -> None:
    home, port, bootstrap = broker
    first, second = many_envelopes(ENVELOPES // 2, seed=14), many_envelopes(ENVELOPES // 2, seed=15)
    produce(bootstrap, f"{prefix}agency-events", [keyed(m) for m in first])
    wait_for(lambda: receipt_count(database) >= ENVELOPES // 6, "the run under way")
    restart(home, port)
    produce(bootstrap, f"{prefix}agency-events", [keyed(m) for m in second])
    wait_for(lambda: receipt_count(database) >= ENVELOPES, "a receipt per envelope")
    assert_every_event_id_once(database, first + second)


class Relay:
    """``lienthong relay`` in a process of its own, killable."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "relay"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def relay_position(store: Ledger, prefix: str) -> int:
    return store.recorder.max_tracking_id(f"{prefix}relay:coordination-events") or 0  # type: ignore[attr-defined]


def test_kill_9_of_the_relay_mid_run_still_delivers_every_event_once_in_order_per_subject(
    worker: Worker,
    store: Ledger,
    database: Database,
    broker: tuple[Path, int, str],
    prefix: str,
) -> None:
    bootstrap = broker[2]
    sent = many_envelopes(ENVELOPES // 2, seed=16)
    produce(bootstrap, f"{prefix}agency-events", [keyed(m) for m in sent])
    wait_for(lambda: receipt_count(database) >= len(sent), "a receipt per envelope")
    last = store.recorder.max_notification_id() or 0
    relay = Relay({**worker.env}, worker.log.parent / "relay.log")
    relay.start()
    try:
        for share in (5, 3, 2):
            wait_for(lambda s=share: relay_position(store, prefix) >= last // s, "the relay on")
            relay.kill()
            relay.start()
        wait_for(lambda: relay_position(store, prefix) >= last, "the whole log relayed")
    finally:
        relay.stop()
    seen = deduplicated(bootstrap, f"{prefix}coordination-events", last)
    assert sorted(p for per_subject in seen.values() for p in per_subject) == list(
        range(1, last + 1)
    )
    for positions in seen.values():
        assert positions == sorted(positions)


def deduplicated(bootstrap: str, topic: str, last: int) -> dict[str, list[int]]:
    """What a consumer that drops every position it has seen gets: per subject, the
    positions in the order it receives them (until it has every position up to ``last``)."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=60_000
    )
    seen: dict[str, list[int]] = {}
    known: set[int] = set()
    try:
        for record in consumer:
            event = resources_pb2.AuditEvent.FromString(record.value)
            position = int(dict(record.headers)["position"])
            if position in known:
                continue
            known.add(position)
            seen.setdefault(record.key.decode(), []).append(position)
            assert event.position == position
            if len(known) == last:
                break
    finally:
        consumer.close()
    return seen


PUBLISHERS = {"24": "phuoc-binh.health-post", "23": "phuoc-binh.ttpvhcc", "3": "phuoc-binh.vhxh"}
PUBLISHES = 40  # per publisher


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_running(parent: subprocess.Popen[bytes], command: str) -> psutil.Process | None:
    """The child of ``lienthong run`` running ``command`` (None while there is none)."""
    for child in psutil.Process(parent.pid).children():
        if command in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
            return child
    return None


def test_kill_9_of_the_api_server_in_full_mode_during_publishes_records_every_event_id_once(
    worker: Worker, database: Database, prefix: str, tmp_path: Path
) -> None:
    worker.stop()  # full mode runs its own
    address = f"127.0.0.1:{free_port()}"
    env = {
        **worker.env,
        "LIENTHONG_GRPC_ADDRESS": address,
        "LIENTHONG_VERDICT_WAIT_SECONDS": "60",
        "LIENTHONG_PKI_DIR": str(folder()),  # the server's certificate and key
        "LIENTHONG_LOG_KEY_FILE": str(tmp_path / "log.key"),  # the checkpointer's
    }
    log = tmp_path / "full.log"
    with log.open("wb") as out:
        full = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"], env=env, stdout=out, stderr=out
        )
    sent = {
        task: [
            signed(
                envelopes.progress_reported(
                    f"{PB}/task/{task}", percent=i, as_of=dt.date(2026, 3, 2), agency_id=agency
                )
            )
            for i in range(PUBLISHES)
        ]
        for task, agency in PUBLISHERS.items()
    }
    verdicts: list[Verdict] = []
    failures: list[BaseException] = []

    def publish(task: str) -> None:
        try:
            agency = PUBLISHERS[task]
            with AgencyClient(
                address, agency, retries=12, backoff=0.2, identity=identity(agency)
            ) as client:
                # list.extend appends each verdict as it is answered
                verdicts.extend(client.publish(message) for message in sent[task])
        except Exception as error:  # noqa: BLE001 - handed over to the test's thread
            failures.append(error)

    publishers = [threading.Thread(target=publish, args=(task,)) for task in PUBLISHERS]
    try:
        wait_for(lambda: serving(address), "full mode to serve")
        for thread in publishers:
            thread.start()
        wait_for(lambda: len(verdicts) >= PUBLISHES // 2, "publishes under way")
        api = child_running(full, "serve")
        assert api is not None
        api.kill()
        wait_for(lambda: logged(log, "serve (pid"), "the supervisor to see the API go")
        for thread in publishers:
            thread.join(timeout=DEADLINE_S)
        assert not failures
        assert child_running(full, "serve") not in (None, api)
    finally:
        full.send_signal(signal.SIGTERM)
        full.wait(timeout=DEADLINE_S)
    everything = [m for messages in sent.values() for m in messages]
    assert sorted(v.event_id for v in verdicts) == sorted(m.event_id for m in everything)
    assert {v.outcome for v in verdicts} <= {"accepted", "duplicate"}
    assert_every_event_id_once_of_tasks(database, everything, list(PUBLISHERS))


def test_kill_9_of_postgresql_under_the_checkpointer_it_catches_up_and_publishes_all(  # noqa: PLR0917
    store: Ledger,
    database: Database,
    broker: tuple[Path, int, str],
    prefix: str,
    pgdata: Path,
    tmp_path: Path,
) -> None:
    key = tmp_path / "log.key"
    signer = load_signer(key)
    checkpointer = CheckpointerProcess(
        environment(database, broker[2], prefix, key), tmp_path / "checkpointer.log"
    )
    checkpointer.start()
    try:
        wait_for(Log(store, prefix).covered, "a checkpoint of the whole log")
        killed = postmaster_pid(pgdata)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: postmaster_pid(pgdata) not in {0, killed}, "PostgreSQL back (watchdog)")
        after = Ledger(env=database.eventsourcing_env())  # connections made since
        try:
            log = Log(after, prefix)
            log.grow()
            wait_for(log.covered, "the tree caught up and checkpointed after the restart")
            wait_for(log.all_published, "every checkpoint published after the restart")
            assert checkpointer.process is not None
            assert checkpointer.process.poll() is None  # it rode the outage out
            assert_published(log.tree, signer.verifier(), broker[2], prefix)
        finally:
            after.close()
    finally:
        checkpointer.stop()


CRASHING_AGENT = """
import json, os, sys
import faust
bootstrap, topic, group, out, last = sys.argv[1:6]
app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                consumer_auto_offset_reset="earliest", topic_allow_declare=False)
runs = []
@app.agent(app.topic(topic, value_serializer="raw", key_serializer="raw"))
async def body(stream):
    runs.append([])
    async for events in stream.take_events(10, within=0.2):
        runs[-1].extend(event.message.offset for event in events)
        if len(runs) == 1:
            raise RuntimeError("the store is away")
        if int(last) in runs[-1]:
            with open(out, "w") as results:
                json.dump(runs, results)
            os._exit(0)
faust.Worker(app, loglevel="WARNING").execute_from_commandline()
"""


def test_faust_moves_past_a_batch_whose_agent_body_raised(
    broker: tuple[Path, int, str], prefix: str, tmp_path: Path
) -> None:
    """Why the worker never lets an error out of its agent, and positions partitions
    from the store: faust restarts a crashed agent after the batch it was handed."""
    topic, results = f"{prefix}agency-events", tmp_path / "runs.json"
    produce(broker[2], topic, [(b"one-subject", b"%d" % i) for i in range(40)])
    agent = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_AGENT,
            broker[2],
            topic,
            f"{prefix}crash",
            str(results),
            "39",
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert agent.returncode == 0, agent.stderr.decode(errors="replace")[-3000:]
    crashed, *later = json.loads(results.read_text())
    assert crashed
    assert not set(crashed) & {offset for run in later for offset in run}
