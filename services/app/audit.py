"""The log's proofs for auditors: signed checkpoints, inclusion and consistency proofs,
and the full verification of the store against a checkpoint saved earlier.

The signing key is the file named by ``LIENTHONG_LOG_KEY_FILE`` (a note signer key,
``PRIVATE+KEY+…``), by default ``log-signing.key`` in the data directory, generated on
first use with the key name :data:`DEFAULT_ORIGIN`; the key's name is the checkpoints'
origin.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eventsourcing.postgres import PostgresApplicationRecorder

from domain.merkle import CompactRange, ProofError, leaf_hash, verify_consistency
from services.app.notes import Checkpoint, NoteError, Signer, Verifier
from services.store.database import DATA_DIR_ENV, DEFAULT_DATA_DIR, ConfigurationError
from services.store.tlog import Kept, LogTree

LOG_KEY_FILE_ENV = "LIENTHONG_LOG_KEY_FILE"
KEY_FILE_NAME = "log-signing.key"
DEFAULT_ORIGIN = "lienthong.local/log"
PROGRESS_EVERY = 10_000


def key_file() -> Path:
    named = os.environ.get(LOG_KEY_FILE_ENV, "").strip()
    return (
        Path(named)
        if named
        else Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)) / KEY_FILE_NAME
    )


def load_signer(path: Path, name: str = DEFAULT_ORIGIN, setting: str = LOG_KEY_FILE_ENV) -> Signer:
    """The signer key in ``path``; a new one named ``name`` written there (owner-only)
    if it is absent. ``setting`` names the file's setting in a configuration error."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        signer = Signer.generate(name)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(f"{signer}\n")
        return signer
    try:
        return Signer.parse(path.read_text(encoding="utf-8"))
    except (NoteError, UnicodeDecodeError) as error:
        msg = f"{setting} ({path}) is not a note signer key: {error}"
        raise ConfigurationError(msg) from None


def log_tree(recorder: object) -> LogTree:
    if not isinstance(recorder, PostgresApplicationRecorder):
        msg = "the log's tree lives in PostgreSQL: the application must use it"
        raise TypeError(msg)
    return LogTree(recorder)


def make_checkpoint(tree: LogTree, signer: Signer, progress: Callable[[int], None]) -> str:
    """Bring the tree up to date, sign its head, keep the note and return it."""
    tree.update(progress)
    return sign_head(tree, signer).note


def sign_head(tree: LogTree, signer: Signer) -> Kept:
    """Sign the tree's head as it is and keep the checkpoint."""
    size = tree.head().size
    digest = tree.root(size)
    return tree.keep_checkpoint(
        size, digest, signer.sign(Checkpoint(signer.name, size, digest).text())
    )


@dataclass(frozen=True)
class Failure:
    """Why the store does not verify against a checkpoint, and from which position
    (``None`` when the failure is the tree's as a whole)."""

    reason: str
    position: int | None
    detail: str


class VerificationError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def fail(reason: str, position: int | None, detail: str) -> VerificationError:
    return VerificationError(Failure(reason, position, detail))


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """The checkpoint in ``note``, if ``verifier``'s signature on it verifies."""
    checkpoint = Checkpoint.parse(verifier.verify(note))
    if checkpoint.origin != verifier.name:
        msg = f"the checkpoint's origin {checkpoint.origin!r} is not the key's {verifier.name!r}"
        raise NoteError(msg)
    return checkpoint


def verify_log(
    tree: LogTree,
    checkpoint: Checkpoint,
    progress: Callable[[int, int], None],
    appended: Callable[[int], None],
) -> int:
    """Check the store against ``checkpoint`` (whose signature is checked already): the
    stored tree must extend it, and every leaf, recomputed from the rows themselves,
    must be the tree's and lead to the checkpoint's root. Returns the tree size checked;
    raises :class:`VerificationError` with the first failure."""
    tree.update(appended)
    size = tree.head().size
    if checkpoint.size > size:
        raise fail(
            "TREE_SHORTER", None, f"the tree has {size} leaves, the checkpoint {checkpoint.size}"
        )
    try:
        proof = tree.consistency(checkpoint.size, size)
        verify_consistency(checkpoint.size, size, proof, checkpoint.root, tree.root(size))
    except ProofError as error:
        raise fail(
            "INCONSISTENT", None, f"the stored tree does not extend the checkpoint: {error}"
        ) from None
    recomputed = recompute(tree, checkpoint, size, progress)
    if recomputed.root() != tree.root(size):
        raise fail("TREE_NODES_CHANGED", None, "the stored tree's nodes are not the rows' hashes")
    return size


def recompute(
    tree: LogTree, checkpoint: Checkpoint, size: int, progress: Callable[[int, int], None]
) -> CompactRange:
    """The tree of the first ``size`` rows, each compared with the leaf the tree recorded."""
    recomputed = CompactRange()
    rows = tree.records()
    for leaf in tree.leaves(size):
        position, data = next(rows, (None, b""))
        if position is None or position > leaf.position:
            raise fail(
                "ROW_MISSING", leaf.position, f"position {leaf.position} is no longer in the store"
            )
        if position < leaf.position:
            raise fail("ROW_ADDED", position, f"position {position} was never appended to the tree")
        digest = leaf_hash(data)
        if digest != leaf.hash:
            raise fail(
                "ROW_CHANGED", position, f"the row at position {position} is not the one appended"
            )
        recomputed.append(digest)
        if recomputed.size == checkpoint.size and recomputed.root() != checkpoint.root:
            raise fail(
                "ROOT_MISMATCH",
                None,
                f"positions up to {position} do not hash to the checkpoint's root",
            )
        if recomputed.size % PROGRESS_EVERY == 0:
            progress(recomputed.size, size)
    if recomputed.size < size:
        raise fail("LEAF_MISSING", None, f"the tree records {recomputed.size} of its {size} leaves")
    progress(size, size)
    return recomputed
