"""Deterministic identities: the same plan, task, indicator or agency always gets
the same UUID, so importing a file twice finds what the first import stored.

A *reference* is the human form of a subject: ``phuoc-binh-2026`` (a plan),
``phuoc-binh-2026/task/II.6``, ``phuoc-binh-2026/indicator/3.1``, and an agency id
such as ``phuoc-binh.vhxh``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from uuid import UUID, uuid5

from domain.errors import InvalidValueError

NAMESPACE = UUID("7d0f4bd2-5a59-4c1e-9a47-2f4b1d8e57a1")
SLUG = re.compile(r"^[a-z0-9]+(?:[-.][a-z0-9]+)*$")


class SubjectKind(StrEnum):
    PLAN = "plan"
    TASK = "task"
    INDICATOR = "indicator"
    AGENCY = "agency"


@dataclass(frozen=True)
class Ref:
    """A parsed reference to a subject."""

    kind: SubjectKind
    plan: str
    key: str

    @property
    def id(self) -> UUID:
        return subject_id(self.kind, self.plan, self.key)

    def __str__(self) -> str:
        if self.kind is SubjectKind.PLAN:
            return self.plan
        return f"{self.plan}/{self.kind.value}/{self.key}"


@lru_cache(maxsize=1 << 17)
def subject_id(kind: SubjectKind, plan: str, key: str = "") -> UUID:
    """The UUID of a subject, derived from its reference (remembered: hashing it is
    a measurable share of ingest)."""
    return uuid5(NAMESPACE, f"{kind.value}:{plan}:{key}")


def plan_id(plan: str) -> UUID:
    return subject_id(SubjectKind.PLAN, plan)


def task_id(plan: str, key: str) -> UUID:
    return subject_id(SubjectKind.TASK, plan, key)


def indicator_id(plan: str, number: str) -> UUID:
    return subject_id(SubjectKind.INDICATOR, plan, number)


def agency_id(agency: str) -> UUID:
    return subject_id(SubjectKind.AGENCY, "", agency)


def task_ref(plan: str, key: str) -> str:
    """``PLAN/task/KEY``."""
    return f"{plan}/{SubjectKind.TASK.value}/{key}"


def indicator_ref(plan: str, number: str) -> str:
    """``PLAN/indicator/NUMBER``."""
    return f"{plan}/{SubjectKind.INDICATOR.value}/{number}"


def check_slug(value: str, field: str) -> str:
    """Plan and agency ids are lowercase ASCII slugs."""
    if not SLUG.match(value):
        msg = f"{value!r} is not a slug (lowercase letters, digits, '-' and '.')"
        raise InvalidValueError(msg, field=field)
    return value


@lru_cache(maxsize=1 << 17)  # every envelope names its subject; Ref is immutable
def parse_ref(text: str) -> Ref:
    """Parse ``plan``, ``plan/task/KEY`` or ``plan/indicator/NUMBER``."""
    parts = text.split("/", 2)
    check_slug(parts[0], "subject")
    if len(parts) == 1:
        return Ref(SubjectKind.PLAN, parts[0], "")
    if len(parts) == 3 and parts[1] in ("task", "indicator") and parts[2]:  # noqa: PLR2004
        return Ref(SubjectKind(parts[1]), parts[0], parts[2])
    msg = f"{text!r} is not PLAN, PLAN/task/KEY or PLAN/indicator/NUMBER"
    raise InvalidValueError(msg, field="subject")
