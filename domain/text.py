"""The text the system may hold, from any client: the one place for its rules.

Every string a client sends is checked by the name of its field before anything is
recorded (:func:`text_problem`; the wire applies it to every field of every request
and envelope, :mod:`services.wire.text`; a plan file's reader to every value):

- free text (``note``, ``reason``, ``description``, ``resolution``) may hold line
  breaks and tabs; no other control character, in any field
  (``TEXT_CONTROL_CHARACTER``: NUL, escape, DEL, C1 controls, …);
- no bidirectional override, embedding, isolate or mark (``TEXT_BIDI_CONTROL``), in
  any field;
- names and identifiers hold no invisible character (``TEXT_INVISIBLE_CHARACTER``:
  zero-width spaces and joiners, word joiner, byte order mark, soft hyphen);
- identifiers are in Unicode NFC (``TEXT_NOT_NFC``), so that one id has one spelling;
- each field has a length cap in characters (``TEXT_TOO_LONG``).

A refusal quotes a value through :func:`quote` only: a bounded, escaped prefix.
"""

from __future__ import annotations

import re
import unicodedata

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
QUOTE_CHARS = 48  # a refusal quotes at most this much of a value
MESSAGE_CHARS = 500  # and says at most this much in all

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc
FREE_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Cc but line feed and tab
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]")


def quote(value: str) -> str:
    """``value`` as a refusal may quote it: escaped, and at most a bounded prefix."""
    if len(value) <= QUOTE_CHARS:
        return repr(value)  # Vietnamese as it is; controls, bidi, invisibles escaped
    return f"{value[:QUOTE_CHARS]!r}… ({len(value)} characters)"


def bounded(message: str) -> str:
    """A refusal's message, cut to :data:`MESSAGE_CHARS` (gRPC's trailers are small)."""
    return message if len(message) <= MESSAGE_CHARS else f"{message[: MESSAGE_CHARS - 1]}…"


def text_problem(name: str, value: str) -> tuple[str, str] | None:
    """What is wrong with ``value`` in a field called ``name``: (reason, description)."""
    limit = LIMITS.get(name, ID_LIMIT)
    if len(value) > limit:
        return "TEXT_TOO_LONG", f"is {len(value)} characters long; at most {limit}"
    if value.isascii() and value.isprintable():
        return None  # no control, bidi or invisible character, and NFC: the usual case
    free = name in FREE_TEXT
    problem = character_problem(value, free=free)
    if (
        problem is None
        and not free
        and name not in NAMES
        and not unicodedata.is_normalized("NFC", value)
    ):
        return "TEXT_NOT_NFC", f"{quote(value)} is not in Unicode NFC"
    return problem


def character_problem(value: str, *, free: bool) -> tuple[str, str] | None:
    """A character ``value`` may not hold, as (reason, description); ``free`` text may
    hold line breaks, tabs and invisible characters (an emoji's joiner, say)."""
    checks = [
        ("TEXT_CONTROL_CHARACTER", "the control character", FREE_CONTROL if free else CONTROL),
        ("TEXT_BIDI_CONTROL", "the bidirectional control", BIDI),
    ]
    if not free:
        checks.append(("TEXT_INVISIBLE_CHARACTER", "the invisible character", INVISIBLE))
    for reason, what, pattern in checks:
        if found := pattern.search(value):
            return reason, f"holds {what} U+{ord(found[0]):04X}"
    return None
