"""Witnesses' cosignatures of the log's checkpoints.

A witness (another server, the province) keeps its own Ed25519 note key. It checks a
checkpoint's signature by the log (and, if it keeps the log's earlier checkpoints,
its consistency with them), then adds its own signature line in the same signed-note
format (``lienthong audit cosign``). The log keeps such a cosignature only when the
note carries the log's own valid signature over a checkpoint the log kept (the same
size and root) and every other signature is a configured witness's and verifies;
``GetCheckpoint`` and ``lienthong audit checkpoint`` then serve the note with every
kept cosignature after the log's own line.

Setting (environment variable): ``LIENTHONG_WITNESS_KEYS`` — a file of the witnesses'
note verifier keys (``NAME+HASH+BASE64``), one a line (blank lines and ``#`` comments
skipped), read at each call; none by default (every cosignature is then refused
``WITNESS_UNKNOWN``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from domain.errors import DomainError, InvalidValueError, NotFoundError
from services.app.audit import open_checkpoint
from services.app.notes import Checkpoint, NoteError, Verifier, signature_line, split_note
from services.store.database import ConfigurationError
from services.store.tlog import Cosignature, Kept, LogTree

WITNESS_KEYS_ENV = "LIENTHONG_WITNESS_KEYS"
FIELD = "note"


class NoteMalformedError(InvalidValueError):
    code = "NOTE_MALFORMED"


class LogSignatureInvalidError(InvalidValueError):
    code = "LOG_SIGNATURE_INVALID"


class CheckpointUnknownError(NotFoundError):
    code = "CHECKPOINT_UNKNOWN"


class CheckpointMismatchError(DomainError):
    code = "CHECKPOINT_MISMATCH"
    kind = "precondition"


class CosignatureMissingError(InvalidValueError):
    code = "COSIGNATURE_MISSING"


class WitnessUnknownError(DomainError):
    code = "WITNESS_UNKNOWN"
    kind = "forbidden"


class CosignatureInvalidError(InvalidValueError):
    code = "COSIGNATURE_INVALID"


COSIGNATURE_ERRORS: tuple[type[DomainError], ...] = (
    NoteMalformedError,
    LogSignatureInvalidError,
    CheckpointUnknownError,
    CheckpointMismatchError,
    CosignatureMissingError,
    WitnessUnknownError,
    CosignatureInvalidError,
)


def witness_keys() -> list[Verifier]:
    """The configured witnesses' verifier keys (none when the setting is unset)."""
    named = os.environ.get(WITNESS_KEYS_ENV, "").strip()
    if not named:
        return []
    try:
        lines = Path(named).read_text(encoding="utf-8").splitlines()
        return [
            Verifier.parse(line)
            for line in (raw.strip() for raw in lines)
            if line and not line.startswith("#")
        ]
    except (OSError, UnicodeDecodeError, NoteError) as error:
        msg = f"{WITNESS_KEYS_ENV} ({named}) is not a file of note verifier keys: {error}"
        raise ConfigurationError(msg) from None


def cosigned(tree: LogTree, kept: Kept) -> str:
    """The kept checkpoint's note with every kept cosignature after the log's line."""
    return kept.note + "".join(c.line for c in tree.cosignatures(kept.id))


def add_cosignatures(
    tree: LogTree, note: str, log: Verifier, witnesses: Sequence[Verifier]
) -> Kept:
    """Check ``note`` (a checkpoint of this log, cosigned by witnesses) and keep its
    witnesses' signatures; returns the checkpoint they are kept with. Refuses the
    whole note, keeping nothing, at its first problem."""
    try:
        text, signatures = split_note(note)
        Checkpoint.parse(text)
    except NoteError as error:
        raise NoteMalformedError(f"not a signed checkpoint: {error}", field=FIELD) from None
    try:
        checkpoint = open_checkpoint(note, log)
    except NoteError as error:
        msg = f"the log's own signature ({log.name}) is missing or invalid: {error}"
        raise LogSignatureInvalidError(msg, field=FIELD) from None
    kept = tree.checkpoint_of_size(checkpoint.size)
    if kept is None:
        msg = f"the log kept no checkpoint of {checkpoint.size} leaves"
        raise CheckpointUnknownError(msg, field=FIELD)
    if kept.root != checkpoint.root:
        msg = f"the log's checkpoint of {checkpoint.size} leaves has another root hash"
        raise CheckpointMismatchError(msg, field=FIELD)
    known = {(w.name, w.hash): w for w in witnesses}
    found = []
    for name, number, signature in signatures:
        if (name, number) == (log.name, log.hash):
            continue
        witness = known.get((name, number))
        if witness is None:
            msg = f"{name}+{number:08x} is not a configured witness ({WITNESS_KEYS_ENV})"
            raise WitnessUnknownError(msg, field=FIELD)
        try:
            witness.verify(text + "\n" + signature_line(name, number, signature))
        except NoteError:
            msg = f"the cosignature of {name}+{number:08x} does not verify"
            raise CosignatureInvalidError(msg, field=FIELD) from None
        found.append(Cosignature(name, number, signature_line(name, number, signature)))
    if not found:
        raise CosignatureMissingError("the note carries no witness's signature", field=FIELD)
    tree.keep_cosignatures(kept.id, found)
    return kept
