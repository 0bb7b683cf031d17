"""An agency (cơ quan, đơn vị) of a ward, or a collective unit the plans name as one.

A collective ("Các cơ quan, đơn vị") never acts in its own name: only its members
act, each for itself (and, through :class:`~domain.context.Context`, as a member of
the collective on the collective's items).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import CollectiveCannotActError, InvalidValueError, reject_unknown_fields
from domain.facts import Fact
from domain.ids import check_slug
from domain.items import prune

AGENCY_FIELDS = ("ward", "name_vi", "name_en", "kind", "aliases", "members")


class AgencyKind(StrEnum):
    OFFICE = "office"
    DEPARTMENT = "department"
    POLICE = "police"
    HEALTH = "health"
    SCHOOL = "school"
    MASS_ORGANISATION = "mass_organisation"
    ENTERPRISE = "enterprise"
    NEIGHBOURHOOD = "neighbourhood"
    COMMITTEE = "committee"
    COLLECTIVE = "collective"


def check_profile(profile: dict[str, Any]) -> None:
    reject_unknown_fields(profile, AGENCY_FIELDS, "agency")
    kinds = [k.value for k in AgencyKind]
    if profile.get("kind") not in kinds:
        msg = f"kind must be one of {', '.join(kinds)}, not {profile.get('kind')!r}"
        raise InvalidValueError(msg, field="kind")
    if profile.get("members") and profile["kind"] != AgencyKind.COLLECTIVE:
        raise InvalidValueError("only a collective has members", field="members")
    if not profile.get("name_vi"):
        raise InvalidValueError("the Vietnamese name is required", field="name_vi")


class Agency(Aggregate):
    TOPIC = "lienthong.Agency"

    def __init__(self) -> None:
        self.key = ""
        self.profile: dict[str, Any] = {}

    @property
    def members(self) -> list[str]:
        return list(self.profile.get("members", []))

    def require_may_act(self) -> None:
        """Refuse a command in the agency's name when it is a collective."""
        if self.profile.get("kind") == AgencyKind.COLLECTIVE:
            msg = f"{self.key} is a collective: only its members act, each in its own name"
            raise CollectiveCannotActError(msg, field="agency")

    class Created(Aggregate.Created):
        TOPIC = "lienthong.agency.Created"

    class Registered(Created, Fact):
        TOPIC = "lienthong.agency.Registered"
        class_version = 1
        key: str
        profile: dict[str, Any]

        def apply(self, agency: Agency) -> None:
            agency.key = self.key
            agency.profile = dict(self.profile)

    @classmethod
    def register(cls, ctx: Context, *, id: UUID, key: str, profile: dict[str, Any]) -> Agency:  # noqa: A002
        check_slug(key, "id")
        check_profile(profile)
        return cls._create(cls.Registered, id=id, key=key, profile=profile, **ctx.event_fields())

    def update(self, ctx: Context, *, profile: dict[str, Any], reason: str) -> bool:
        """Replace the profile, recording the fields that changed (a dropped field
        changes to None); False when nothing did."""
        check_profile(profile)
        fields = set(self.profile) | set(profile)
        changes = {
            k: profile.get(k) for k in sorted(fields) if self.profile.get(k) != profile.get(k)
        }
        if not changes:
            return False
        self.trigger_event(
            self.ProfileChanged, changes=changes, reason=reason, **ctx.event_fields()
        )
        return True

    class ProfileChanged(Fact):
        TOPIC = "lienthong.agency.ProfileChanged"
        changes: dict[str, Any]
        reason: str

        def apply(self, agency: Agency) -> None:
            agency.profile = prune({**agency.profile, **self.changes})
