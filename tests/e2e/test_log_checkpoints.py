"""The log's tree followed and checkpointed while the server runs, its health and its
status over gRPC, and witnesses' cosignatures handed in through AuditService: kept
and served when they verify, each kind of bad note refused with its own code."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lienthong.v1 import audit_service_pb2 as pb
from lienthong.v1 import audit_service_pb2_grpc

from domain.keys import Role
from domain.merkle import verify_consistency
from services.app.audit import LOG_KEY_FILE_ENV, key_file, load_signer, log_tree, make_checkpoint
from services.app.checkpointer import Checkpointer, LogLimits
from services.app.ledger import Actor, Ledger
from services.app.notes import Checkpoint, Signer
from services.app.witness import WITNESS_KEYS_ENV
from services.grpc import server as server_module
from services.grpc.server import LOG_HEALTH
from tests.commands import execute
from tests.e2e.conftest import ServerThread, open_tls_channel, prepare
from tests.e2e.test_role_matrix import reason_of

TIMEOUT = 10
DEADLINE_S = 60
POLL_S = 0.05
TASK = "phuoc-binh-2026/task/9"  # led by all agencies: the police may report on it
POLICE = Actor(agency="phuoc-binh.police", person="Nguyễn Văn A", channel="test")
DAY = dt.date(2026, 2, 10)
PERCENT = itertools.count(1)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WITNESS = "province.example/witness"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def grow(app: Ledger, reports: int = 1) -> None:
    """``reports`` progress reports: two records each (the event and its receipt)."""
    for _ in range(reports):
        percent = next(PERCENT)
        execute(app, "progress_reported", TASK, POLICE, {"percent": percent, "as_of": DAY})


@pytest.fixture
def log_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Signer:
    monkeypatch.setenv(LOG_KEY_FILE_ENV, str(tmp_path / "log.key"))
    return load_signer(key_file())


@pytest.fixture
def prepared(app: Ledger, log_key: Signer) -> Ledger:
    prepare(app)
    return app


@pytest.fixture
def quick_health(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "LOG_HEALTH_SECONDS", 0.05)


def as_role(server: ServerThread, role: Role) -> grpc.Channel:
    return open_tls_channel(server.address, role.value, role)


def test_the_server_follows_the_log_and_checkpoints_it_in_embedded_mode(
    prepared: Ledger, log_key: Signer, quick_health: None
) -> None:
    tree = log_tree(prepared.recorder)
    follower = Checkpointer(tree, log_key, LogLimits(checkpoint_seconds=0.2))
    server = ServerThread(prepared, checkpointer=follower)
    server.start()
    try:
        with as_role(server, Role.AUDITOR) as channel:
            audit = audit_service_pb2_grpc.AuditServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)

            def covered() -> bool:
                status = audit.GetLogStatus(pb.GetLogStatusRequest(), timeout=TIMEOUT)
                return status.lag == 0 and status.checkpoint_tree_size == status.records_stored

            notes = []
            for _ in range(3):  # the log grows while the server runs
                grow(prepared, 2)
                wait_for(covered, "a checkpoint of the whole log")
                notes.append(audit.GetCheckpoint(pb.GetCheckpointRequest(), timeout=TIMEOUT))
            status = audit.GetLogStatus(pb.GetLogStatusRequest(), timeout=TIMEOUT)
            assert (status.tree_size, status.healthy) == (status.records_stored, True)
            assert status.checkpoint_age_seconds >= 0
            assert status.checkpoint_made_at.ToDatetime(dt.UTC) <= dt.datetime.now(dt.UTC)
            check = health_pb2.HealthCheckRequest(service=LOG_HEALTH)
            assert health.Check(check, timeout=TIMEOUT).status == SERVING
        checkpoints = [Checkpoint.parse(log_key.verifier().verify(n.note)) for n in notes]
        assert [c.size for c in checkpoints] == sorted({c.size for c in checkpoints})
        for old, new in itertools.pairwise(checkpoints):
            proof = tree.consistency(old.size, new.size)
            verify_consistency(old.size, new.size, proof, old.root, new.root)
    finally:
        started = time.monotonic()
        server.stop()  # the follower's thread stops with the server
        assert time.monotonic() - started < TIMEOUT
    assert follower.stopping.is_set()


def test_the_logs_health_says_when_the_tree_falls_behind_or_the_checkpoint_ages(
    prepared: Ledger, log_key: Signer, quick_health: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENTHONG_TREE_MAX_LAG", "3")
    monkeypatch.setenv("LIENTHONG_CHECKPOINT_MAX_AGE_SECONDS", "1")
    tree = log_tree(prepared.recorder)
    server = ServerThread(prepared)  # nothing follows the log yet
    server.start()
    try:
        with as_role(server, Role.OPERATOR) as channel:
            audit = audit_service_pb2_grpc.AuditServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)

            def log_health() -> int:
                check = health_pb2.HealthCheckRequest(service=LOG_HEALTH)
                return int(health.Check(check, timeout=TIMEOUT).status)

            def status() -> pb.GetLogStatusResponse:
                return audit.GetLogStatus(pb.GetLogStatusRequest(), timeout=TIMEOUT)

            assert log_health() == NOT_SERVING  # the plans are stored, the tree is empty
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == SERVING
            behind = status()
            assert (behind.tree_size, behind.healthy) == (0, False)
            assert behind.lag == behind.records_stored > 3
            assert not behind.HasField("checkpoint_made_at")

            follower = Checkpointer(tree, log_key, LogLimits(checkpoint_seconds=0.1))
            following = follower.start()
            wait_for(lambda: log_health() == SERVING, "the log serving once followed")
            caught_up = status()
            assert (caught_up.lag, caught_up.healthy) == (0, True)
            assert caught_up.checkpoint_tree_size == caught_up.tree_size == behind.records_stored
            follower.stop()
            following.join(timeout=TIMEOUT)

            grow(prepared, 2)  # four records: beyond the lag allowed
            wait_for(lambda: log_health() == NOT_SERVING, "the log not serving, far behind")
            assert status().lag == 4
            tree.update()  # followed, but the checkpoint is older than allowed
            wait_for(lambda: status().checkpoint_age_seconds > 1, "the checkpoint to age")
            wait_for(lambda: log_health() == NOT_SERVING, "the log not serving, checkpoint old")
            assert (status().lag, status().healthy) == (0, False)

            follower = Checkpointer(tree, log_key, LogLimits(checkpoint_seconds=0.1))
            following = follower.start()
            wait_for(lambda: log_health() == SERVING, "the log serving again")
            follower.stop()
            following.join(timeout=TIMEOUT)
    finally:
        server.stop()


@pytest.fixture
def witness(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Signer:
    """A witness whose key the log is configured with (after an unrelated one)."""
    signer = Signer.generate(WITNESS)
    other = Signer.generate("another.example/witness").verifier()
    keys = tmp_path / "witnesses.txt"
    keys.write_text(f"# the province\n{other}\n\n{signer.verifier()}\n", encoding="utf-8")
    monkeypatch.setenv(WITNESS_KEYS_ENV, str(keys))
    return signer


@pytest.fixture
def site(prepared: Ledger) -> Iterator[tuple[ServerThread, grpc.Channel]]:
    server = ServerThread(prepared)
    server.start()
    with as_role(server, Role.AUDITOR) as channel:
        yield server, channel
    server.stop()


def refusal(audit: audit_service_pb2_grpc.AuditServiceStub, note: str) -> tuple[str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        audit.AddCosignature(pb.AddCosignatureRequest(note=note), timeout=TIMEOUT)
    return raised.value.code().name, reason_of(raised.value)


def test_a_witnesss_cosignature_is_kept_and_served_after_the_logs_signature(
    site: tuple[ServerThread, grpc.Channel], prepared: Ledger, log_key: Signer, witness: Signer
) -> None:
    note = make_checkpoint(log_tree(prepared.recorder), log_key, lambda _: None)
    audit = audit_service_pb2_grpc.AuditServiceStub(site[1])
    cosigned = witness.cosign(note)
    assert cosigned.startswith(note)
    assert cosigned != note
    added = audit.AddCosignature(pb.AddCosignatureRequest(note=cosigned), timeout=TIMEOUT)
    assert (added.note, list(added.witnesses)) == (cosigned, [WITNESS])
    again = audit.AddCosignature(pb.AddCosignatureRequest(note=cosigned), timeout=TIMEOUT)
    assert again.note == cosigned  # kept once
    served = audit.GetCheckpoint(pb.GetCheckpointRequest(), timeout=TIMEOUT).note
    assert served == cosigned
    text = log_key.verifier().verify(served)
    assert witness.verifier().verify(served) == text
    with as_role(site[0], Role.OPERATOR) as operator:  # an operator may hand them in too
        stub = audit_service_pb2_grpc.AuditServiceStub(operator)
        assert stub.AddCosignature(pb.AddCosignatureRequest(note=cosigned)).note == cosigned


def test_each_bad_cosigned_note_is_refused_with_its_code(
    site: tuple[ServerThread, grpc.Channel], prepared: Ledger, log_key: Signer, witness: Signer
) -> None:
    tree = log_tree(prepared.recorder)
    note = make_checkpoint(tree, log_key, lambda _: None)
    kept = Checkpoint.parse(log_key.verifier().verify(note))
    audit = audit_service_pb2_grpc.AuditServiceStub(site[1])

    def signed_by_log(size: int, root: bytes) -> str:
        return log_key.sign(Checkpoint(log_key.name, size, root).text())

    stranger = Signer.generate("stranger.example/witness")
    forged = Signer.generate(log_key.name).sign(kept.text())  # the log's name, another key
    earlier = signed_by_log(kept.size - 1, tree.root(kept.size - 1))  # never kept
    pasted = note + witness.cosign(earlier)[len(earlier) :]  # the witness's line of another
    cases = {
        "NOTE_MALFORMED": ("INVALID_ARGUMENT", "not a checkpoint\n"),
        "LOG_SIGNATURE_INVALID": ("INVALID_ARGUMENT", witness.cosign(forged)),
        "CHECKPOINT_UNKNOWN": ("NOT_FOUND", witness.cosign(earlier)),
        "CHECKPOINT_MISMATCH": (
            "FAILED_PRECONDITION",
            witness.cosign(signed_by_log(kept.size, bytes(32))),
        ),
        "COSIGNATURE_MISSING": ("INVALID_ARGUMENT", note),
        "WITNESS_UNKNOWN": ("PERMISSION_DENIED", witness.cosign(stranger.cosign(note))),
        "COSIGNATURE_INVALID": ("INVALID_ARGUMENT", pasted),
    }
    for code, (status, bad) in cases.items():
        assert refusal(audit, bad) == (status, code), code
    assert refusal(audit, "") == ("INVALID_ARGUMENT", "INVALID_REQUEST")  # note: FIELD_REQUIRED
    # nothing of the refused notes was kept
    served = audit.GetCheckpoint(pb.GetCheckpointRequest(), timeout=TIMEOUT).note
    assert served == note
