"""Signed notes and checkpoints, byte for byte as ``golang.org/x/mod/sumdb/note`` makes
them (its documented example key and note)."""

from __future__ import annotations

import base64

import pytest

from services.app.notes import Checkpoint, NoteError, Signer, Verifier

VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
NOTE = (
    f"{TEXT}\n\N{EM DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signing_reproduces_the_reference_note_and_keys() -> None:
    signer = Signer.parse(SKEY)
    assert signer.sign(TEXT) == NOTE
    assert str(signer.verifier()) == VKEY
    assert str(signer) == SKEY


def test_the_reference_verifier_accepts_the_note_and_refuses_a_changed_one() -> None:
    verifier = Verifier.parse(VKEY)
    assert verifier.verify(NOTE) == TEXT
    with pytest.raises(NoteError, match="does not verify"):
        verifier.verify(NOTE.replace("answer", "Answer"))
    with pytest.raises(NoteError, match="no signature by"):
        Signer.generate("PeterNeumann").verifier().verify(NOTE)


def test_a_checkpoint_is_origin_size_and_root_and_reads_back() -> None:
    checkpoint = Checkpoint("lienthong.test/log", 42, bytes(range(32)))
    signer = Signer.generate("lienthong.test/log")
    note = signer.sign(checkpoint.text())
    assert note.startswith(
        f"lienthong.test/log\n42\n{base64.b64encode(bytes(range(32))).decode()}\n\n"
    )
    assert Checkpoint.parse(signer.verifier().verify(note)) == checkpoint
    with pytest.raises(NoteError):
        Checkpoint.parse("lienthong.test/log\nforty-two\nAAAA\n")


def test_a_cosignature_is_a_second_line_each_key_verifies_and_is_added_once() -> None:
    witness = Signer.generate("province.example/witness")
    cosigned = witness.cosign(NOTE)
    assert cosigned.startswith(NOTE)
    assert cosigned.count("\n\n") == 1  # one empty line, then the signature lines
    assert cosigned[len(NOTE) :].startswith("\N{EM DASH} province.example/witness ")
    assert len(cosigned[len(NOTE) :].splitlines()) == 1
    assert Verifier.parse(VKEY).verify(cosigned) == TEXT
    assert witness.verifier().verify(cosigned) == TEXT
    assert witness.cosign(cosigned) == cosigned
