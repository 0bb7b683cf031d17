"""The log's checkpoint and proofs through AuditService, checked as an auditor would,
with nothing but the answers, the verifier key and RFC 6962."""

from __future__ import annotations

import grpc
import pytest
from lienthong.v1 import audit_service_pb2 as pb
from lienthong.v1 import audit_service_pb2_grpc

from domain.merkle import leaf_hash, verify_consistency, verify_inclusion
from services.app.audit import log_tree, make_checkpoint
from services.app.ledger import Ledger
from services.app.notes import Checkpoint, Signer
from tests.e2e.conftest import ServerThread

TIMEOUT = 10


def test_the_latest_checkpoint_and_its_proofs_verify(
    server: ServerThread, channel: grpc.Channel, app: Ledger
) -> None:
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    with pytest.raises(grpc.RpcError) as none_yet:
        audit.GetCheckpoint(pb.GetCheckpointRequest(), timeout=TIMEOUT)
    assert none_yet.value.code() == grpc.StatusCode.NOT_FOUND
    signer = Signer.generate("lienthong.test/log")
    make_checkpoint(log_tree(app.recorder), signer, lambda _: None)
    kept = audit.GetCheckpoint(pb.GetCheckpointRequest(), timeout=TIMEOUT)
    checkpoint = Checkpoint.parse(signer.verifier().verify(kept.note))
    assert (kept.tree_size, kept.root_hash) == (checkpoint.size, checkpoint.root)

    proof = audit.GetInclusionProof(
        pb.GetInclusionProofRequest(position=42, tree_size=checkpoint.size), timeout=TIMEOUT
    )
    assert proof.leaf_hash == leaf_hash(proof.leaf)
    assert proof.leaf[:8] == (42).to_bytes(8, "big")  # the record's position leads its bytes
    verify_inclusion(
        leaf_hash(proof.leaf),
        proof.leaf_index,
        checkpoint.size,
        list(proof.hashes),
        checkpoint.root,
    )
    consistency = audit.GetConsistencyProof(
        pb.GetConsistencyProofRequest(from_tree_size=7, to_tree_size=checkpoint.size),
        timeout=TIMEOUT,
    )
    assert consistency.to_root_hash == checkpoint.root
    verify_consistency(
        7, checkpoint.size, list(consistency.hashes), consistency.from_root_hash, checkpoint.root
    )


def test_a_proof_for_a_position_or_size_the_tree_does_not_hold_is_refused(
    server: ServerThread, channel: grpc.Channel, app: Ledger
) -> None:
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    log_tree(app.recorder).update()
    size = log_tree(app.recorder).head().size
    for request, code in (
        (pb.GetInclusionProofRequest(position=10**9, tree_size=size), grpc.StatusCode.NOT_FOUND),
        (
            pb.GetInclusionProofRequest(position=1, tree_size=size + 1),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            audit.GetInclusionProof(request, timeout=TIMEOUT)
        assert refused.value.code() == code
    with pytest.raises(grpc.RpcError) as refused:
        audit.GetConsistencyProof(
            pb.GetConsistencyProofRequest(from_tree_size=5, to_tree_size=4), timeout=TIMEOUT
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
