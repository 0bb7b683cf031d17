"""AIP-style pagination over a list: ``page_size`` (default 50, at most 500) and an
opaque ``page_token``."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, TypeVar

from services.wire.convert import Checker

T = TypeVar("T")
DEFAULT_SIZE = 50
MAX_SIZE = 500


def page_size(check: Checker, size: int) -> int:
    if size < 0:
        check.add("page_size", "must not be negative")
    return min(size or DEFAULT_SIZE, MAX_SIZE)


def paging(check: Checker, request: Any) -> tuple[int, int]:
    """A list request's page size and offset (its page token decoded)."""
    return page_size(check, request.page_size), decode(check, request.page_token)


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode() if position else ""


def decode(check: Checker, token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        text = ""
    if not (text.startswith("p") and text[1:].isascii() and text[1:].isdigit()):
        check.add("page_token", "is not a token this service issued", "PAGE_TOKEN_INVALID")
        return 0
    return int(text[1:])


def page(items: Sequence[T], offset: int, size: int) -> tuple[list[T], str]:
    chunk = list(items[offset : offset + size])
    more = offset + size < len(items)
    return chunk, encode(offset + size) if more else ""
