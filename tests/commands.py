"""Commands in tests go the production way: :func:`services.app.submissions.submit`,
each with an event id and a receipt of its own. A refusal comes back as the domain
error it was, so a test can name the rule that refused it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from domain.errors import DomainError
from services.app.ledger import Actor, Ledger
from services.app.submissions import Command, Verdict, submit


class RefusedError(DomainError):
    """A submission the rules refused (its rejection receipt is on record)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message, field=verdict.field or None)
        self.code = verdict.reason_code  # type: ignore[misc]
        self.verdict = verdict


def execute(  # noqa: PLR0917 - the same order as the command it builds
    app: Ledger,
    kind: str,
    subject: str,
    actor: Actor,
    args: dict[str, Any],
    evidence: Sequence[dict[str, str]] = (),
) -> int:
    """Submit one command; the subject's new version, or the refusal raised."""
    command = Command(str(uuid.uuid4()), kind, subject, actor, dict(args), list(evidence))
    verdict = submit(app, command)
    if verdict.outcome != "accepted":
        raise RefusedError(verdict)
    return verdict.subject_version
