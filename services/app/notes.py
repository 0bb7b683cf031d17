"""Signed checkpoints: the C2SP ``tlog-checkpoint`` format inside a C2SP ``signed-note``,
signed with Ed25519, with keys as ``golang.org/x/mod/sumdb/note`` writes them.

- checkpoint body: ``<origin>\\n<tree size>\\n<base64 root hash>\\n``;
- note: the body, an empty line, then one line per signature,
  ``— <key name> <base64(key hash (4 bytes) ‖ signature (64 bytes))>``;
- key hash: the first 4 bytes of SHA-256(name ‖ ``\\n`` ‖ 0x01 ‖ public key);
- verifier key: ``<name>+<key hash, 8 hex digits>+<base64(0x01 ‖ public key)>``;
- signer key (the key file): ``PRIVATE+KEY+<name>+<key hash>+<base64(0x01 ‖ seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ALG_ED25519 = b"\x01"
DASH = "\N{EM DASH} "
PRIVATE_PREFIX = "PRIVATE+KEY+"
KEY_PARTS = 3  # name, hash, key
CHECKPOINT_LINES = 3  # origin, size, root


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or whose signature does not verify."""


def key_hash(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name):
        msg = f"a key name is non-empty, without spaces or '+': {name!r}"
        raise NoteError(msg)
    return name


def _key_parts(text: str) -> tuple[str, int, bytes]:
    parts = text.strip().split("+", KEY_PARTS - 1)  # base64 has "+" too
    if len(parts) != KEY_PARTS:
        msg = "a key is NAME+HASH+BASE64"
        raise NoteError(msg)
    name, hash_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
        number = int(hash_hex, 16)
    except (binascii.Error, ValueError) as error:
        msg = f"a malformed key: {error}"
        raise NoteError(msg) from None
    if len(hash_hex) != 8 or raw[:1] != ALG_ED25519 or len(raw) != 33:  # noqa: PLR2004 - 4-byte hash, 1 + 32-byte key
        msg = "not an Ed25519 note key"
        raise NoteError(msg)
    return _check_name(name), number, raw[1:]


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: int
    public: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> Verifier:
        name, number, raw = _key_parts(text)
        if key_hash(name, raw) != number:
            msg = "the verifier key's hash does not match its name and key"
            raise NoteError(msg)
        return cls(name, number, Ed25519PublicKey.from_public_bytes(raw))

    def raw(self) -> bytes:
        return self.public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __str__(self) -> str:
        encoded = base64.b64encode(ALG_ED25519 + self.raw()).decode()
        return f"{self.name}+{self.hash:08x}+{encoded}"

    def verify(self, note: str) -> str:
        """The note's text, if one of its signatures is this key's and verifies."""
        text, signatures = split_note(note)
        for name, number, signature in signatures:
            if name != self.name or number != self.hash:
                continue  # another signer's (a witness's cosignature, say)
            try:
                self.public.verify(signature, text.encode())
            except InvalidSignature:
                msg = f"the signature of {name} does not verify"
                raise NoteError(msg) from None
            return text
        msg = f"the note has no signature by {self.name}+{self.hash:08x}"
        raise NoteError(msg)


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(_check_name(name), Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> Signer:
        if not text.startswith(PRIVATE_PREFIX):
            msg = f"a signer key starts with {PRIVATE_PREFIX}"
            raise NoteError(msg)
        name, number, seed = _key_parts(text.removeprefix(PRIVATE_PREFIX))
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.verifier().hash != number:
            msg = "the signer key's hash does not match its name and key"
            raise NoteError(msg)
        return signer

    def __str__(self) -> str:
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(ALG_ED25519 + seed).decode()
        return f"{PRIVATE_PREFIX}{self.name}+{self.verifier().hash:08x}+{encoded}"

    def verifier(self) -> Verifier:
        public = self.private.public_key()
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, key_hash(self.name, raw), public)

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (which ends with a newline)."""
        if not text.endswith("\n"):
            msg = "a note's text ends with a newline"
            raise NoteError(msg)
        return f"{text}\n{self.signature_line(text)}"

    def signature_line(self, text: str) -> str:
        """This key's signature line over a note's ``text``."""
        return signature_line(self.name, self.verifier().hash, self.private.sign(text.encode()))

    def cosign(self, note: str) -> str:
        """``note`` with this key's signature line added after those it has (a
        witness's cosignature); unchanged when this key signed it already."""
        text, signatures = split_note(note)
        mine = self.verifier()
        if any((name, number) == (mine.name, mine.hash) for name, number, _ in signatures):
            return note
        return note + self.signature_line(text)


def signature_line(name: str, number: int, signature: bytes) -> str:
    """A note's signature line: ``— NAME base64(key hash ‖ signature)``."""
    stamp = struct.pack(">I", number) + signature
    return f"{DASH}{name} {base64.b64encode(stamp).decode()}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, int, bytes]]]:
    """The text of a note and its signatures (name, key hash, signature)."""
    text, gap, block = note.rpartition("\n\n")
    if not gap or not block.endswith("\n"):
        msg = "a signed note is text, an empty line and signature lines"
        raise NoteError(msg)
    signatures = []
    for line in block[:-1].split("\n"):
        name, _, encoded = line.removeprefix(DASH).partition(" ")
        try:
            stamp = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            stamp = b""
        if not line.startswith(DASH) or len(stamp) <= 4:  # noqa: PLR2004 - the key hash
            msg = f"a malformed signature line: {line!r}"
            raise NoteError(msg)
        signatures.append((name, int.from_bytes(stamp[:4], "big"), stamp[4:]))
    return text + "\n", signatures


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) <= CHECKPOINT_LINES or not lines[1].isdigit():
            msg = "a checkpoint is an origin, a tree size and a root hash, a line each"
            raise NoteError(msg)
        try:
            digest = base64.b64decode(lines[2], validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != hashlib.sha256().digest_size:
            msg = "the checkpoint's root hash is not base64 of 32 bytes"
            raise NoteError(msg)
        return cls(lines[0], int(lines[1]), digest)
