"""Field violations: a request or envelope checked as a whole lists every invalid
field, each with a machine-readable reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

INVALID_REQUEST = "INVALID_REQUEST"
GENERIC = frozenset({"INVALID_VALUE", "FIELD_REQUIRED"})


@dataclass(frozen=True)
class Violation:
    field: str
    description: str
    reason: str = "INVALID_VALUE"


class RequestInvalidError(Exception):
    """A request with one or more invalid fields; all of them are listed."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)

    @property
    def code(self) -> str:
        """The refusal's code: the first violation's reason when it is specific (say
        ``TEXT_CONTROL_CHARACTER``), else ``INVALID_REQUEST``."""
        reason = self.violations[0].reason
        return INVALID_REQUEST if reason in GENERIC else reason
