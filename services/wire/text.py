"""Every text and timestamp field of a request or an envelope, checked before
anything is recorded: the text by :func:`domain.text.text_problem` (the one place for
the text rules), each ``google.protobuf.Timestamp`` within its definition's range
(``TIMESTAMP_OUT_OF_RANGE``); and the cap on evidence references per envelope.

Invalid UTF-8 (a lone surrogate included) never gets this far: such bytes do not
parse, and are refused as ``UNDECODABLE``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from domain.text import text_problem
from services.wire.violations import Violation

MAX_EVIDENCE = 20  # evidence references in one envelope
TIMESTAMP = "google.protobuf.Timestamp"
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
NANOS = 1_000_000_000
OUT_OF_RANGE = "is not a timestamp between 0001-01-01 and 9999-12-31 (nanos 0 to 999,999,999)"


def text_violations(
    message: Message, prefix: str = "", skip: frozenset[str] = frozenset()
) -> list[Violation]:
    """Every string field of ``message`` (nested messages too) that breaks a rule
    above, and every timestamp out of protobuf's range (``TIMESTAMP_OUT_OF_RANGE``);
    message types named in ``skip`` (full names) are left to their own check."""
    violations: list[Violation] = []
    for descriptor, value in message.ListFields():
        kind = descriptor.type
        if kind == FieldDescriptor.TYPE_STRING:
            name = descriptor.name
            items = enumerate(value) if descriptor.is_repeated else ((None, value),)
            for index, item in items:
                problem = text_problem(name, item)
                if problem is not None:
                    where = _where(prefix, name, index)
                    violations.append(Violation(where, problem[1], problem[0]))
        elif kind == FieldDescriptor.TYPE_MESSAGE:
            violations.extend(_in_messages(descriptor, value, prefix, skip))
    return violations


def _in_messages(
    descriptor: FieldDescriptor, value: Any, prefix: str, skip: frozenset[str]
) -> list[Violation]:
    """:func:`text_violations` of a message field's message(s)."""
    violations: list[Violation] = []
    for index, item in enumerate(value) if descriptor.is_repeated else ((None, value),):
        if not isinstance(item, Message):
            continue  # a map's keys
        full_name = item.DESCRIPTOR.full_name
        if full_name == TIMESTAMP:
            if not stamp_in_range(item.seconds, item.nanos):  # type: ignore[attr-defined]
                where = _where(prefix, descriptor.name, index)
                violations.append(Violation(where, OUT_OF_RANGE, "TIMESTAMP_OUT_OF_RANGE"))
        elif full_name not in skip:
            where = _where(prefix, descriptor.name, index)
            violations.extend(text_violations(item, f"{where}.", skip))
    return violations


def _where(prefix: str, name: str, index: int | None) -> str:
    """The path of a field (``index``: its item's, when it is repeated)."""
    return f"{prefix}{name}" if index is None else f"{prefix}{name}[{index}]"


def stamp_in_range(seconds: int, nanos: int) -> bool:
    """A ``google.protobuf.Timestamp`` as its definition allows it."""
    return MIN_SECONDS <= seconds <= MAX_SECONDS and 0 <= nanos < NANOS


def text_or(value: str, name: str, fallback: str) -> str:
    """``value`` when it is text a record may hold in a field ``name``, else ``fallback``."""
    return fallback if text_problem(name, value) is not None else value
