"""The text a client may send, on every channel: the one place for the limits.

Every string field of a request or an envelope is checked before anything is
recorded (:func:`text_violations`), by the name of its field:

- free text (``note``, ``reason``, ``description``, ``resolution``) may hold line
  breaks and tabs; no other control character, in any field
  (``TEXT_CONTROL_CHARACTER``: NUL, escape, C1 controls, …);
- no bidirectional override, embedding, isolate or mark (``TEXT_BIDI_CONTROL``), in
  any field;
- names and identifiers hold no invisible character (``TEXT_INVISIBLE_CHARACTER``:
  zero-width spaces and joiners, word joiner, byte order mark, soft hyphen);
- identifiers are in Unicode NFC (``TEXT_NOT_NFC``), so that one id has one spelling;
- each field has a length cap in characters (``TEXT_TOO_LONG``);
- every ``google.protobuf.Timestamp`` is within its definition's range
  (``TIMESTAMP_OUT_OF_RANGE``).

Invalid UTF-8 (a lone surrogate included) never gets this far: such bytes do not
parse, and are refused as ``UNDECODABLE``.

A refusal quotes a value through :func:`quote` only: a bounded, escaped prefix.
"""

from __future__ import annotations

import re
import unicodedata

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.wire.violations import Violation

FREE_TEXT = frozenset({"note", "reason", "description", "resolution"})
NAMES = frozenset({"person", "document", "deadline", "title"})
LIMITS = {
    "note": 4000,
    "reason": 2000,
    "description": 2000,
    "resolution": 2000,
    "person": 200,
    "document": 300,
    "deadline": 200,
    "uri": 2048,
    "media_type": 127,
    "value": 64,
    "unit": 32,
    "period": 16,
    "as_of": 16,
    "due_before": 16,
    "year": 8,
    "page_token": 64,
}
ID_LIMIT = 200  # every other string: ids, subjects, names of views, filters
MAX_EVIDENCE = 20  # evidence references in one envelope
QUOTE_CHARS = 48  # a refusal quotes at most this much of a value
MESSAGE_CHARS = 500  # and says at most this much in all
TIMESTAMP = "google.protobuf.Timestamp"
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
NANOS = 1_000_000_000
OUT_OF_RANGE = "is not a timestamp between 0001-01-01 and 9999-12-31 (nanos 0 to 999,999,999)"

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc
FREE_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Cc but line feed and tab
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]")


def quote(value: str) -> str:
    """``value`` as a refusal may quote it: escaped, and at most a bounded prefix."""
    if len(value) <= QUOTE_CHARS:
        return ascii(value)
    return f"{value[:QUOTE_CHARS]!a}… ({len(value)} characters)"


def bounded(message: str) -> str:
    """A refusal's message, cut to :data:`MESSAGE_CHARS` (gRPC's trailers are small)."""
    return message if len(message) <= MESSAGE_CHARS else f"{message[: MESSAGE_CHARS - 1]}…"


def text_problem(name: str, value: str) -> tuple[str, str] | None:
    """What is wrong with ``value`` in a field called ``name``: (reason, description)."""
    limit = LIMITS.get(name, ID_LIMIT)
    if len(value) > limit:
        return "TEXT_TOO_LONG", f"is {len(value)} characters long; at most {limit}"
    free = name in FREE_TEXT
    checks = [
        ("TEXT_CONTROL_CHARACTER", "the control character", FREE_CONTROL if free else CONTROL),
        ("TEXT_BIDI_CONTROL", "the bidirectional control", BIDI),
    ]
    if not free:
        checks.append(("TEXT_INVISIBLE_CHARACTER", "the invisible character", INVISIBLE))
    for reason, what, pattern in checks:
        if found := pattern.search(value):
            return reason, f"holds {what} U+{ord(found[0]):04X}"
    if not free and name not in NAMES and not unicodedata.is_normalized("NFC", value):
        return "TEXT_NOT_NFC", f"{quote(value)} is not in Unicode NFC"
    return None


def text_violations(
    message: Message, prefix: str = "", skip: frozenset[str] = frozenset()
) -> list[Violation]:
    """Every string field of ``message`` (nested messages too) that breaks a rule
    above, and every timestamp out of protobuf's range (``TIMESTAMP_OUT_OF_RANGE``);
    message types named in ``skip`` (full names) are left to their own check."""
    violations = []
    for descriptor, value in message.ListFields():
        path = f"{prefix}{descriptor.name}"
        repeated = descriptor.is_repeated
        items = list(value) if repeated else [value]
        for index, item in enumerate(items):
            where = f"{path}[{index}]" if repeated else path
            if descriptor.type == FieldDescriptor.TYPE_STRING:
                problem = text_problem(descriptor.name, item)
                if problem is not None:
                    violations.append(Violation(where, problem[1], problem[0]))
            elif not isinstance(item, Message):
                continue
            elif item.DESCRIPTOR.full_name == TIMESTAMP:
                if not stamp_in_range(item.seconds, item.nanos):  # type: ignore[attr-defined]
                    violations.append(Violation(where, OUT_OF_RANGE, "TIMESTAMP_OUT_OF_RANGE"))
            elif item.DESCRIPTOR.full_name not in skip:
                violations.extend(text_violations(item, f"{where}.", skip))
    return violations


def stamp_in_range(seconds: int, nanos: int) -> bool:
    """A ``google.protobuf.Timestamp`` as its definition allows it."""
    return MIN_SECONDS <= seconds <= MAX_SECONDS and 0 <= nanos < NANOS


def text_or(value: str, name: str, fallback: str) -> str:
    """``value`` when it is text a record may hold in a field ``name``, else ``fallback``."""
    return fallback if text_problem(name, value) is not None else value
