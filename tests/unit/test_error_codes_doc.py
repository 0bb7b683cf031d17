"""docs/errors.md lists every refusal code in one table: it stays true."""

from __future__ import annotations

import re
from pathlib import Path

from domain import keys
from services.app.witness import COSIGNATURE_ERRORS
from tests.unit.given import KEY_CODES, STABLE_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def documented_codes() -> set[str]:
    """The codes of the page's tables (each row starts with the code)."""
    return set(re.findall(r"^\| `([A-Z_]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE))


def test_every_domain_code_is_documented() -> None:
    assert set(STABLE_CODES.values()) <= documented_codes()


def test_every_identity_code_is_published_and_documented() -> None:
    classes = {
        value
        for value in vars(keys).values()
        if isinstance(value, type)
        and issubclass(value, keys.DomainError)
        and value.__module__ == "domain.keys"
    }
    assert {cls: cls.code for cls in classes} == KEY_CODES
    assert not set(KEY_CODES.values()) & set(STABLE_CODES.values()), "two errors share a code"
    assert set(KEY_CODES.values()) <= documented_codes()


def test_every_cosignature_code_is_documented_and_its_own() -> None:
    codes = [error.code for error in COSIGNATURE_ERRORS]
    assert len(set(codes)) == len(codes)
    assert not set(codes) & (set(STABLE_CODES.values()) | set(KEY_CODES.values()))
    assert set(codes) <= documented_codes()
