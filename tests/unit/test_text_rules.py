"""The text a client may send (domain/text.py)."""

from __future__ import annotations

import unicodedata

import pytest

from domain.text import QUOTE_CHARS, quote, text_problem


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("note", "Đã xong.\n\tBước 2: chờ ký"),
        ("person", unicodedata.normalize("NFD", "Nguyễn Văn A")),  # a name, as typed
        ("obstacle_id", "vướng-mắc-1"),
        ("description", "emoji 👩\u200d💻 in free text"),
        ("note", "n" * 4000),
    ],
)
def test_text_a_client_may_send(name: str, value: str) -> None:
    assert text_problem(name, value) is None


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("note", "a\x00", "TEXT_CONTROL_CHARACTER"),
        ("note", "a\r\n", "TEXT_CONTROL_CHARACTER"),
        ("agency_id", "a\n", "TEXT_CONTROL_CHARACTER"),
        ("person", "\u202eA", "TEXT_BIDI_CONTROL"),
        ("note", "\u2067x", "TEXT_BIDI_CONTROL"),
        ("person", "A\u200bB", "TEXT_INVISIBLE_CHARACTER"),
        ("obstacle_id", "a\u00adb", "TEXT_INVISIBLE_CHARACTER"),
        ("obstacle_id", unicodedata.normalize("NFD", "vướng"), "TEXT_NOT_NFC"),
        ("note", "n" * 4001, "TEXT_TOO_LONG"),
        ("event_id", "e" * 201, "TEXT_TOO_LONG"),
    ],
)
def test_text_refused_with_its_reason(name: str, value: str, reason: str) -> None:
    problem = text_problem(name, value)
    assert problem is not None
    assert problem[0] == reason


def test_a_refusal_quotes_a_bounded_escaped_prefix() -> None:
    assert quote("Quý V/2026\u202e\u200b") == "'Quý V/2026\\u202e\\u200b'"
    quoted = quote("\x00" + "x" * 100_000)
    assert quoted.startswith("'\\x00xxx")
    assert len(quoted) < 4 * QUOTE_CHARS + 40
    assert "100001 characters" in quoted
