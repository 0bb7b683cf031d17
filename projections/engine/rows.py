"""A view's rows as plain JSON-like values: their type, their canonical text (for
digests), the JSON text written to PostgreSQL, and values made JSON-safe."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson

Row = dict[str, Any]
Changes = dict[str, dict[str, Row | None]]  # view → key → row (None: removed)
Views = dict[str, dict[str, Row]]  # view → key → row


def canonical(data: Row) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


# A row as the JSON text PostgreSQL reads into jsonb (json.dumps as psycopg's Jsonb
# does, without its spaces and \u escapes: less to write and to parse).
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ORJSON = orjson.OPT_NON_STR_KEYS


def dumps(data: Row) -> str:
    """A row as compact JSON text, by orjson (~8× the standard encoder: a rebuild
    encodes every touched row); what orjson refuses (an integer past 64 bits) by the
    standard encoder. PostgreSQL reads both into the same jsonb value."""
    try:
        return orjson.dumps(data, option=_ORJSON).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _dumps(data)


# Any integer orjson would read as a float (past 64 bits) has 19 digits or more: the
# text with every digit made "0", searched for 19 zeros (C all through: ~8x a regular
# expression's scan, which was ~10% of a snapshot's decoding).
_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19


def loads(text: bytes | bytearray | memoryview | str) -> Any:
    """A row's JSON text as the standard decoder reads it, by orjson (a few times
    faster: a server reads every in-memory view back at start) — unless it holds a run
    of 19 digits, which orjson could read as a float instead of an integer."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if _LONG_RUN in raw.translate(_DIGITS):
        return json.loads(raw)
    return orjson.loads(raw)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def json_safe(value: Any) -> Any:
    """Dates, times and other values as JSON-friendly values."""
    kind = type(value)
    if kind in _PLAIN:  # the common cases first, by exact type (a rebuild's hot path)
        return value
    if isinstance(value, dict):
        return {
            (k if type(k) is str else str(k)): (v if type(v) in _PLAIN else json_safe(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


_AS_JSON_SAFE = orjson.OPT_PASSTHROUGH_DATACLASS


def _leaf(value: Any) -> Any:
    """What :func:`json_safe` makes of a value orjson does not take as it is."""
    safe = json_safe(value)
    if safe is value:
        msg = f"{type(value).__name__} is not JSON-safe"
        raise TypeError(msg)
    return safe


def json_safe_copy(data: Row) -> Row:
    """:func:`json_safe` of a row whose keys are text, as a fresh copy made by
    orjson (a few times faster: the audit trail makes one per event). orjson writes
    dates, times and UUIDs as ``isoformat()`` and ``str()`` do (offsets in whole
    minutes, as the store's ISO texts hold them); the values it does not take as they
    are (decimals, dataclasses) as ``json_safe`` makes them; anything else (a key not
    text, an integer past 64 bits) by ``json_safe`` itself."""
    try:
        copied: Row = orjson.loads(orjson.dumps(data, default=_leaf, option=_AS_JSON_SAFE))
    except TypeError:
        return json_safe(data)  # type: ignore[no-any-return]
    return copied
