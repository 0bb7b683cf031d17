"""The log's Merkle tree and signed checkpoints on a real PostgreSQL, through the command
line: proofs that verify, and every kind of tampering with the stored rows caught by
``lienthong audit verify`` against a checkpoint saved before it."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from domain.clock import Clock
from domain.ids import task_id
from domain.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from domain.messages import vietnamese
from services.app.audit import LOG_KEY_FILE_ENV, log_tree
from services.app.checkpointer import log_status
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.app.notes import Checkpoint, Signer, Verifier
from services.app.witness import WITNESS_KEYS_ENV
from services.cli import EXIT_BAD_INPUT, EXIT_BAD_SIGNATURE, EXIT_LOG_FAILS, main
from services.store import tlog
from services.store.database import Database
from services.store.tlog import leaf_bytes
from tests.commands import RefusedError, execute
from tests.conftest import PLANS, REGISTRY

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
TLOGCHECK = Path(__file__).resolve().parents[1] / "interop" / "tlogcheck"
TASK = "phuoc-binh-2026/task/9"  # led by all agencies: the police may report on it
POLICE = Actor(agency="phuoc-binh.police", person="Nguyễn Văn A", channel="test")
DAY = dt.date(2026, 2, 10)
WITNESS = "province.example/witness"
JUNE = dt.datetime(2026, 6, 20, 9, tzinfo=dt.UTC)  # when the store's records are recorded
JULY = dt.datetime(2026, 7, 15, 9, tzinfo=dt.UTC)  # when the walkthrough's correction is


def ticking(start: dt.datetime) -> Clock:
    """A clock from ``start``, a second later at each reading."""
    seconds = itertools.count()
    return lambda: start + dt.timedelta(seconds=next(seconds))


def row_leaf(store: Store, position: int) -> bytes:
    row = store.execute(
        "SELECT originator_id, originator_version, topic, state FROM {events}"
        " WHERE notification_id = %s",
        position,
    )[0]
    return leaf_bytes(position, row[0], row[1], row[2], bytes(row[3]))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report(app: Ledger, *percents: int) -> None:
    for percent in percents:
        execute(app, "progress_reported", TASK, POLICE, {"percent": percent, "as_of": DAY})


class Store:
    """The test's database, reached around the application as a tamperer would."""

    def __init__(self, database: Database, app: Ledger) -> None:
        recorder = app.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        self.conninfo = database.conninfo()
        self.name = recorder.events_table_name
        self.table = sql.Identifier(*self.name.split("."))

    def execute(self, statement: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cursor = conn.execute(sql.SQL(statement).format(events=self.table), params)
            return cursor.fetchall() if cursor.description else []

    def positions(self, topic_like: str = "%") -> list[int]:
        rows = self.execute(
            "SELECT notification_id FROM {events} WHERE topic LIKE %s ORDER BY notification_id",
            topic_like,
        )
        return [int(row[0]) for row in rows]

    def state(self, position: int) -> bytes:
        rows = self.execute("SELECT state FROM {events} WHERE notification_id = %s", position)
        return bytes(rows[0][0])

    def set_state(self, position: int, state: bytes) -> None:
        self.execute("UPDATE {events} SET state = %s WHERE notification_id = %s", state, position)


@pytest.fixture
def store(
    configured: Database, app: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Store:
    """The four plans, a gap in the log (a transaction that stored nothing), progress
    reports of 10 February (late) and a refused one (its rejection receipt is a record
    too), all recorded on 20 June."""
    monkeypatch.setenv(LOG_KEY_FILE_ENV, str(tmp_path / "log.key"))
    app.clock = ticking(JUNE)
    import_plans(app, PLANS, REGISTRY)
    tampering = Store(configured, app)
    tampering.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))", tampering.name
    )
    report(app, 10, 20, 30)
    with pytest.raises(RefusedError):
        report(app, 5)  # progress goes down only through a correction
    return tampering


@pytest.fixture
def saved(store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    """A checkpoint an auditor saved."""
    code, out, err = run(capsys, "audit", "checkpoint")
    assert code == 0, err
    path = tmp_path / "checkpoint.txt"
    path.write_text(out, encoding="utf-8")
    return path


def verifier(capsys: pytest.CaptureFixture[str]) -> Verifier:
    code, out, _ = run(capsys, "audit", "verifier-key")
    assert code == 0
    return Verifier.parse(out)


def test_an_untouched_store_verifies_against_an_earlier_checkpoint(
    store: Store, saved: Path, app: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    report(app, 40, 50)  # the log grows after the checkpoint (an event and a receipt each)
    code, out, err = run(capsys, "audit", "verify", "--checkpoint", str(saved))
    assert code == 0, err
    checkpoint = Checkpoint.parse(verifier(capsys).verify(saved.read_text(encoding="utf-8")))
    assert f"verified: {checkpoint.size} leaves of the checkpoint, {checkpoint.size + 4} now" in out
    code, out, _ = run(capsys, "audit", "status", "--format", "json")
    status = json.loads(out)
    assert dt.datetime.fromisoformat(status.pop("checkpoint_made_at"))
    assert status.pop("checkpoint_age_seconds") >= 0
    assert status == {
        "tree_size": checkpoint.size + 4,
        "last_position": store.positions()[-1],
        "records_stored": checkpoint.size + 4,
        "lag": 0,
        "checkpoint_tree_size": checkpoint.size,
        "healthy": True,  # the log grew since, but the checkpoint is younger than the limit
    }


def test_every_stored_record_is_a_leaf_and_its_proofs_verify(
    store: Store, saved: Path, app: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = Checkpoint.parse(verifier(capsys).verify(saved.read_text(encoding="utf-8")))
    positions = store.positions()
    assert checkpoint.size == len(positions)  # receipts included, the gap is no leaf
    assert positions[-1] == checkpoint.size + 1
    rejected = store.positions("%Rejected%")[-1]
    report(app, 60)
    code, out, err = run(
        capsys,
        "audit",
        "prove",
        "--position",
        str(rejected),
        "--tree-size",
        str(checkpoint.size),
        "--format",
        "json",
    )
    assert code == 0, err
    proof = json.loads(out)
    data = row_leaf(store, rejected)
    assert base64.b64decode(proof["leaf_hash"]) == leaf_hash(data)
    assert proof["leaf_index"] == positions.index(rejected)
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(leaf_hash(data), proof["leaf_index"], checkpoint.size, hashes, checkpoint.root)
    code, out, err = run(
        capsys,
        "audit",
        "prove-consistency",
        "--from",
        str(checkpoint.size),
        "--to",
        str(checkpoint.size),
        "--format",
        "json",
    )
    assert (code, json.loads(out)["hashes"]) == (0, [])
    run(capsys, "audit", "checkpoint")  # the tree takes the new report
    code, out, err = run(
        capsys,
        "audit",
        "prove-consistency",
        "--from",
        "5",
        "--to",
        str(checkpoint.size + 1),
        "--format",
        "json",
    )
    assert code == 0, err
    consistency = json.loads(out)
    tree = log_tree(app.recorder)
    verify_consistency(
        5,
        checkpoint.size + 1,
        [base64.b64decode(h) for h in consistency["hashes"]],
        tree.root(5),
        base64.b64decode(consistency["to_root_hash"]),
    )


def test_a_tree_appended_in_many_small_batches_is_the_tree_of_every_row(
    store: Store, app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tlog, "BATCH", 7)  # each batch resumes from the stored frontier
    tree = log_tree(app.recorder)
    appended: list[int] = []
    assert tree.update(appended.append) == len(store.positions())
    assert appended[:2] == [7, 14]
    assert tree.lag() == 0
    rows = [leaf_hash(row_leaf(store, position)) for position in store.positions()]
    assert tree.root(len(rows)) == root_of(rows)
    assert tree.root(100) == root_of(rows[:100])


def test_a_checkpoint_under_another_key_or_edited_fails_its_signature(
    saved: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = Signer.generate("lienthong.local/log").verifier()
    code, _, err = run(
        capsys, "audit", "verify", "--checkpoint", str(saved), "--verifier-key", str(other)
    )
    assert code == EXIT_BAD_SIGNATURE
    assert "BAD_SIGNATURE" in err
    lines = saved.read_text(encoding="utf-8").split("\n")
    lines[1] = str(int(lines[1]) - 1)
    edited = tmp_path / "edited.txt"
    edited.write_text("\n".join(lines), encoding="utf-8")
    code, _, err = run(capsys, "audit", "verify", "--checkpoint", str(edited))
    assert (code, "does not verify" in err) == (EXIT_BAD_SIGNATURE, True)


def test_a_malformed_signing_key_file_is_a_configuration_error(
    configured: Database,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    key = tmp_path / "log.key"
    key.write_text("PRIVATE+KEY+not-a-key\n", encoding="utf-8")
    monkeypatch.setenv(LOG_KEY_FILE_ENV, str(key))
    code, _, err = run(capsys, "audit", "checkpoint")
    assert code == EXIT_BAD_INPUT
    assert f"error: CONFIGURATION: {LOG_KEY_FILE_ENV} ({key}) is not a note signer key" in err


def edit_a_report(store: Store) -> int:
    position = store.positions("%ProgressReported")[1]
    state = store.state(position)
    assert b'"percent":20' in state  # the case: a report of 20% made 95%
    store.set_state(position, state.replace(b'"percent":20', b'"percent":95'))
    return position


def delete_a_row(store: Store) -> int:
    position = store.positions("%ProgressReported")[0]
    store.execute("DELETE FROM {events} WHERE notification_id = %s", position)
    return position


def swap_two_rows(store: Store) -> int:
    first, second = store.positions("%ProgressReported")[:2]
    one, two = store.state(first), store.state(second)
    store.set_state(first, two)
    store.set_state(second, one)
    return first


def insert_a_row(store: Store) -> int:
    gap = next(p + 1 for p, q in itertools.pairwise(store.positions()) if q != p + 1)
    first = store.positions("%ProgressReported")[0]
    store.execute(
        "INSERT INTO {events} (notification_id, originator_id, originator_version, topic, state)"
        " SELECT %s, %s, 1, topic, state FROM {events} WHERE notification_id = %s",
        gap,
        uuid.uuid4(),
        first,
    )
    return gap


def truncate_the_tail(store: Store) -> int:
    positions = store.positions()
    store.execute("DELETE FROM {events} WHERE notification_id >= %s", positions[-3])
    return positions[-3]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (edit_a_report, "ROW_CHANGED"),
        (delete_a_row, "ROW_MISSING"),
        (swap_two_rows, "ROW_CHANGED"),
        (insert_a_row, "ROW_ADDED"),
        (truncate_the_tail, "ROW_MISSING"),
    ],
)
def test_tampering_with_the_rows_is_caught_at_its_first_position(
    tamper: Callable[[Store], int],
    reason: str,
    store: Store,
    saved: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    position = tamper(store)
    code, _, err = run(capsys, "audit", "verify", "--checkpoint", str(saved))
    assert code == EXIT_LOG_FAILS
    assert f"{reason}: position {position}:" in err


def test_rewriting_a_row_and_the_trees_nodes_still_fails_the_auditors_checkpoint(
    store: Store, saved: Path, app: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_a_report(store)
    store.execute("TRUNCATE tlog_nodes, tlog_leaves")
    store.execute("UPDATE tlog_head SET size = 0, position = 0")
    log_tree(app.recorder).update()  # the whole tree recomputed from the edited rows
    code, _, err = run(capsys, "audit", "verify", "--checkpoint", str(saved))
    assert code == EXIT_LOG_FAILS
    assert "INCONSISTENT: the tree: the stored tree does not extend the checkpoint" in err


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")
def test_checkpoints_and_proofs_verify_with_the_transparency_dev_go_modules(
    store: Store,
    saved: Path,
    app: Ledger,
    capsys: pytest.CaptureFixture[str],
    witnessing: Path,
) -> None:
    old = saved.read_text(encoding="utf-8")
    size = Checkpoint.parse(verifier(capsys).verify(old)).size
    position = store.positions("%ProgressReported")[-1]
    report(app, 70)
    _, new, _ = run(capsys, "audit", "checkpoint")
    _, out, _ = run(
        capsys,
        "audit",
        "prove",
        "--position",
        str(position),
        "--tree-size",
        str(size),
        "--format",
        "json",
    )
    inclusion = json.loads(out)
    _, out, _ = run(
        capsys,
        "audit",
        "prove-consistency",
        "--from",
        str(size),
        "--to",
        str(size + 2),
        "--format",
        "json",
    )
    consistency = json.loads(out)["hashes"]
    witness, cosigned = cosign(capsys, new, witnessing)
    given = {
        "verifier_key": str(verifier(capsys)),
        "old_checkpoint": old,
        "new_checkpoint": new,
        "leaf": base64.b64encode(row_leaf(store, position)).decode(),
        "leaf_index": inclusion["leaf_index"],
        "inclusion": inclusion["hashes"],
        "consistency": consistency,
        "witness_key": witness,
        "cosigned_checkpoint": cosigned,
    }
    go = [shutil.which("go") or "go", "run", "."]
    checked = subprocess.run(
        go, cwd=TLOGCHECK, input=json.dumps(given), capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout.strip()) == (0, "ok"), checked.stderr
    given["leaf"] = base64.b64encode(b"another row").decode()
    checked = subprocess.run(
        go, cwd=TLOGCHECK, input=json.dumps(given), capture_output=True, text=True, check=False
    )
    assert checked.returncode == 1
    assert checked.stdout.startswith("inclusion:")
    given["leaf"] = base64.b64encode(row_leaf(store, position)).decode()
    given["witness_key"] = str(Signer.generate(WITNESS).verifier())  # the name, another key
    checked = subprocess.run(
        go, cwd=TLOGCHECK, input=json.dumps(given), capture_output=True, text=True, check=False
    )
    assert checked.returncode == 1
    assert checked.stdout.startswith("cosigned:")


@pytest.fixture
def witnessing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder for a witness's key, and the log's file of witness keys (empty yet)."""
    folder = tmp_path / "witness"
    folder.mkdir()
    keys = tmp_path / "witnesses.txt"
    keys.write_text("", encoding="utf-8")
    monkeypatch.setenv(WITNESS_KEYS_ENV, str(keys))
    return folder


def cosign(capsys: pytest.CaptureFixture[str], note: str, witnessing: Path) -> tuple[str, str]:
    """A witness's key (made on its side), configured on the log's; the note cosigned by
    it, handed in and kept: the witness's verifier key and the note as the log serves it."""
    key = witnessing / "witness.key"
    code, witness, err = run(
        capsys, "audit", "witness-key", "--key-file", str(key), "--name", WITNESS
    )
    assert code == 0, err
    Path(os.environ[WITNESS_KEYS_ENV]).write_text(witness, encoding="utf-8")
    checkpoint = witnessing / "to-cosign.txt"
    checkpoint.write_text(note, encoding="utf-8")
    log_key = str(verifier(capsys))
    code, cosigned, err = run(
        capsys,
        "audit",
        "cosign",
        "--key-file",
        str(key),
        "--checkpoint",
        str(checkpoint),
        "--verifier-key",
        log_key,
    )
    assert code == 0, err
    checkpoint.write_text(cosigned, encoding="utf-8")
    code, kept, err = run(capsys, "audit", "add-cosignature", "--checkpoint", str(checkpoint))
    assert (code, kept) == (0, cosigned), err
    return witness.strip(), kept


def test_a_witness_cosigns_a_checkpoint_and_the_log_serves_it_cosigned(
    saved: Path, capsys: pytest.CaptureFixture[str], witnessing: Path
) -> None:
    note = saved.read_text(encoding="utf-8")
    witness, cosigned = cosign(capsys, note, witnessing)
    assert cosigned.startswith(note)
    assert Verifier.parse(witness).verify(cosigned) == verifier(capsys).verify(note)
    code, out, _ = run(capsys, "audit", "checkpoint")  # the log did not grow: the same, cosigned
    assert (code, out) == (0, cosigned)
    code, _, err = run(capsys, "audit", "add-cosignature", "--checkpoint", str(saved))
    assert (code, err.strip()) == (
        EXIT_BAD_INPUT,
        (
            f"error: COSIGNATURE_MISSING: {vietnamese('COSIGNATURE_MISSING')} — "
            "the note carries no witness's signature"
        ),
    )
    other = Signer.generate("lienthong.local/log").verifier()
    code, _, err = run(
        capsys,
        "audit",
        "cosign",
        "--key-file",
        str(witnessing / "witness.key"),
        "--checkpoint",
        str(saved),
        "--verifier-key",
        str(other),
    )
    assert (code, "BAD_SIGNATURE" in err) == (EXIT_BAD_SIGNATURE, True)


def test_the_auditors_walkthrough_in_the_operations_guide_runs_as_written(
    store: Store, app: Ledger, tmp_path: Path
) -> None:
    guide = OPERATIONS.read_text(encoding="utf-8")
    section = guide.split("## Auditing the log\n")[1].split("\n## ")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 4
    lienthong = str(Path(sys.executable).parent / "lienthong")
    outputs = []
    for number, block in enumerate(blocks):
        if number == 1:  # after the checkpoint of 30 June, a report corrected in July
            app.clock = ticking(JULY)
            reports = app.repository.get(task_id(*TASK.split("/task/"))).reports
            twenty = next(version for version, percent in reports.items() if percent == 20)
            corrected = {"report_version": twenty, "percent": 15, "reason": "đếm trùng"}
            execute(app, "report_corrected", TASK, POLICE, corrected)
        ran = subprocess.run(
            [
                "/bin/bash",
                "-euo",
                "pipefail",
                "-c",
                block.replace(".venv/bin/lienthong", lienthong),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        outputs.append(ran.stdout)
    assert outputs[1].startswith("verified: ")
    prove, consistency, status = map(json.loads, outputs[2].splitlines())
    assert (prove["tree_size"], len(consistency["hashes"]) > 0, status["lag"]) == (200, True, 0)
    june = (tmp_path / "checkpoint-2026-06-30.txt").read_text(encoding="utf-8")
    size = int(june.split("\n")[1])
    *_, corrections_line, late_line = outputs[3].splitlines()
    inspected = outputs[3].removesuffix(f"{corrections_line}\n{late_line}\n")
    assert "late reports known by then: 3" in inspected  # the reports of 10 February
    assert "corrections recorded after: 1" in inspected
    assert f"{TASK} lienthong.task.ReportCorrected by phuoc-binh.police (Nguyễn Văn A)" in inspected
    assert "percent 20 → 15 of version" in inspected
    assert "why: đếm trùng" in inspected
    assert f"checkpoint: tree size {size} (≥ the {size} leaves known then)" in inspected
    assert inspected.endswith(june)  # the very note the auditor saved
    assert [(c["subject"], c["changes"]) for c in json.loads(corrections_line)] == [
        (TASK, [["percent", "20", "15"]])
    ]
    assert [(r["subject"], r["body"]["percent"], r["late"]) for r in json.loads(late_line)] == [
        (TASK, 10, True),
        (TASK, 20, True),
        (TASK, 30, True),
    ]


KNOWN_AT = "2026-07-01T00:00:00+07:00"


def test_an_inspection_no_kept_checkpoint_covers_yet_says_so_and_succeeds(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "audit",
        "inspect",
        "--plan",
        "phuoc-binh-2026",
        "--as-of",
        "2026-06-30",
        "--known-at",
        KNOWN_AT,
        "--format",
        "json",
    )
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["covered"], answer["checkpoint"]) == (False, None)
    assert answer["leaves_known"] == len(store.positions())
    assert answer["corrections_after"] == []
    code, out, _ = run(
        capsys,
        "audit",
        "inspect",
        "--plan",
        "phuoc-binh-2026",
        "--as-of",
        "2026-06-30",
        "--known-at",
        KNOWN_AT,
    )
    assert (
        f"checkpoint: NOT COVERED: no checkpoint kept yet holds the {len(store.positions())}" in out
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("late",), "ONE_OF_REQUIRED"),
        (("corrections", "--plan", "p", "--agency", "a", "--after", KNOWN_AT), "ONE_OF_REQUIRED"),
        (
            (
                "inspect",
                "--plan",
                "phuoc-binh-2026",
                "--as-of",
                "2026-06-30",
                "--known-at",
                "2026-01-01T00:00:00+07:00",
            ),
            "NOT_FOUND",
        ),
        (
            (
                "inspect",
                "--plan",
                "phuoc-binh-2026/task/9",
                "--as-of",
                "2026-06-30",
                "--known-at",
                KNOWN_AT,
            ),
            "NOT_A_PLAN",
        ),
    ],
)
def test_a_bad_audit_question_on_the_command_line_is_refused_with_its_code(
    store: Store, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str
) -> None:
    code, _, err = run(capsys, "audit", *argv)
    assert code == EXIT_BAD_INPUT
    assert said in err


@pytest.mark.parametrize(
    "argv",
    [
        ("inspect", "--plan", "p", "--as-of", "30/06/2026", "--known-at", KNOWN_AT),
        ("inspect", "--plan", "p", "--as-of", "2026-06-30", "--known-at", "2026-07-01T00:00"),
        ("inspect", "--plan", "p", "--as-of", "2026-06-30"),
    ],
)
def test_a_malformed_day_or_time_or_a_missing_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", *argv])
    assert exited.value.code == EXIT_BAD_INPUT


def test_the_log_status_is_of_one_moment_while_the_tree_grows(
    store: Store, app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree appends between the status's reading of its head and of its lag: the
    status still counts every stored record, and none as covered that is not."""
    tree = log_tree(app.recorder)
    tree.update()
    report(app, 31, 32)  # stored, not yet appended
    before = tree.head().size + tree.lag()
    read_row = tlog.one

    def head_then_append(cursor: Any) -> dict[str, Any]:
        row = read_row(cursor)
        if "position" in row:  # the head was read: the tree moves on meanwhile
            monkeypatch.setattr(tlog, "one", read_row)
            appending = threading.Thread(target=tree.update)
            appending.start()
            appending.join()
        return row

    monkeypatch.setattr(tlog, "one", head_then_append)
    status = log_status(tree)
    assert tree.lag() == 0  # the tree did move on meanwhile
    assert status.stored == before
    assert status.lag == before - status.tree_size > 0
