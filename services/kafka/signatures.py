"""Signatures of a batch checked in another process, while the batch is applied.

The ECDSA P-256 check is the largest single cost of ingesting an envelope (B6), and
``cryptography`` holds the GIL while it runs: a thread would not help. The ingestor
hands a large batch's signatures to one helper process (:class:`SignaturePool`) before
it catches its cache up, in chunks, and takes each chunk's answers when it reaches
that chunk's records — the helper's core verifies while the ingesting thread applies.

What the helper answers is only whether a signature holds for the key whose id it
names: it takes the public key from the certificate attached to the envelope, and
only when that certificate's SHA-256 is the key id (a key's id is the hash of its
certificate, so this is the very certificate on record). Everything else — the key
registered, of that agency, not revoked at the batch's time, its certificate issued by
a trust anchor and valid then, the role — is checked in the ingesting thread, in the
same order as before (:func:`services.app.identity.check_signed`); the answer replaces
only the final ``verify`` call there. A signature the helper cannot judge (no
certificate attached, another one, an algorithm not the key's) or any failure of the
helper leaves the check to the ingesting thread, as for a small batch.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from services.app.identity import ECDSA_P256, ED25519

log = logging.getLogger(__name__)

# A batch with fewer signatures checks them in the ingesting thread.
POOL_MIN = 200
# Signatures per task of the helper: the ingesting thread waits for the first only.
POOL_CHUNK = 250

# How often the helper looks whether the ingest worker is still there.
PARENT_CHECK_SECONDS = 1.0
# (key id, attached certificate DER, algorithm, signature, payload)
Item = tuple[str, bytes, str, bytes, bytes]

_KEYS: dict[str, Any] = {}  # the helper's: key id → public key


def _key(key_id: str, certificate: bytes) -> Any:
    key = _KEYS.get(key_id)
    if key is None and certificate and hashlib.sha256(certificate).hexdigest() == key_id:
        try:
            key = x509.load_der_x509_certificate(certificate).public_key()
        except ValueError:
            return None
        if len(_KEYS) > 1 << 16:
            _KEYS.clear()
        _KEYS[key_id] = key
    return key


def holds(items: Sequence[Item]) -> list[bool | None]:
    """For each item: whether its signature holds for its key (None: not judged here)."""
    answers: list[bool | None] = []
    for key_id, certificate, algorithm, signature, payload in items:
        key = _key(key_id, certificate)
        try:
            if algorithm == ECDSA_P256 and isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            elif algorithm == ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, payload)
            else:
                answers.append(None)
                continue
        except InvalidSignature:
            answers.append(False)
        else:
            answers.append(True)
    return answers


def _ready() -> bool:
    return True


def _follow(parent: int) -> None:
    """In the helper: exit when the process that started it is gone (killed with -9,
    it closes nothing the helper would notice)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


class Checked:
    """The helper's answers for a batch's records, by index, each chunk awaited when
    first asked for."""

    def __init__(self, indices: list[int], futures: list[Future[list[bool | None]]]) -> None:
        self._chunks = {i: n // POOL_CHUNK for n, i in enumerate(indices)}
        self._positions = {i: n % POOL_CHUNK for n, i in enumerate(indices)}
        self._futures = futures
        self._answers: dict[int, list[bool | None]] = {}

    def get(self, index: int) -> bool | None:
        chunk = self._chunks.get(index)
        if chunk is None:
            return None
        answers = self._answers.get(chunk)
        if answers is None:
            try:
                answers = self._futures[chunk].result()
            except Exception:  # noqa: BLE001 - the helper died or failed: this thread checks
                log.warning("the signature helper failed; checking in the ingest thread")
                answers = [None] * POOL_CHUNK
            self._answers[chunk] = answers
        return answers[self._positions[index]]


NOTHING = Checked([], [])


class SignaturePool:
    """One helper process, started when first needed (spawned: the ingest worker runs
    threads), used once it is up; until then, and when it fails, signatures are checked
    in the ingesting thread."""

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[bool] | None = None
        self.handed = 0  # signatures handed to the helper so far

    def start(self) -> None:
        """Start the helper now (it takes a moment to come up)."""
        self._usable()

    def ready(self, seconds: float) -> bool:
        """Start the helper if need be and wait up to ``seconds`` for it to be up."""
        self._usable()
        started = self._started
        if started is None:
            return False
        try:
            started.result(timeout=seconds)
        except Exception:  # noqa: BLE001 - not up: signatures are checked in the thread
            return False
        return self._usable() is not None

    def _usable(self) -> ProcessPoolExecutor | None:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=context, initializer=_follow, initargs=(os.getpid(),)
            )
            self._started = self._pool.submit(_ready)
            return None
        started = self._started
        if started is None or not started.done():
            return None
        if started.exception() is not None or getattr(self._pool, "_broken", False):
            self.close()  # started again at the next batch
            return None
        return self._pool

    def check(self, items: Sequence[tuple[int, Item]]) -> Checked:
        """Start checking ``items`` (record index, item) in the helper; the records'
        answers, or :data:`NOTHING` when the batch is small or the helper not up."""
        if len(items) < POOL_MIN:
            return NOTHING
        pool = self._usable()
        if pool is None:
            return NOTHING
        futures = []
        try:
            for start in range(0, len(items), POOL_CHUNK):
                chunk = [item for _, item in items[start : start + POOL_CHUNK]]
                futures.append(pool.submit(holds, chunk))
        except RuntimeError:  # broken, or shut down
            self.close()
            return NOTHING
        self.handed += len(items)
        return Checked([i for i, _ in items], futures)

    def close(self) -> None:
        pool, self._pool, self._started = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
