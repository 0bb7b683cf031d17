"""The rules of an agency (cơ quan, đơn vị) and of the collectives the plans name as one."""

from __future__ import annotations

from typing import Any

import pytest

from domain import errors
from domain.agency import Agency, AgencyKind
from domain.ids import agency_id
from tests.unit.given import (
    ALL_UNITS,
    MEMBER,
    OFFICE,
    agency_profile,
    assert_provenance,
    ctx,
    given_agency,
    new_events,
    then_not_created,
    then_refused,
)

REGISTRY = "registry"


def register(key: str = OFFICE, **profile: Any) -> Agency:
    return Agency.register(
        ctx(REGISTRY), id=agency_id(key), key=key, profile=agency_profile(**profile)
    )


# Registration ----------------------------------------------------------------------


def test_registering_an_agency_records_its_key_and_profile() -> None:
    agency = register()
    assert [type(e).__name__ for e in agency.pending_events] == ["Registered"]
    assert agency.key == OFFICE
    assert agency.profile == agency_profile()
    assert agency.members == []


@pytest.mark.parametrize("kind", [k.value for k in AgencyKind])
def test_every_published_kind_may_be_registered(kind: str) -> None:
    assert register(kind=kind).profile["kind"] == kind


@pytest.mark.parametrize("kind", ["ministry", "Department", "", None])
def test_an_agency_of_an_unknown_kind_is_refused(kind: str | None) -> None:
    error = then_not_created(lambda: register(kind=kind), errors.InvalidValueError, "INVALID_VALUE")
    assert error.field == "kind"


def test_an_agency_without_a_kind_is_refused() -> None:
    profile = agency_profile()
    del profile["kind"]
    error = then_not_created(
        lambda: Agency.register(ctx(REGISTRY), id=agency_id(OFFICE), key=OFFICE, profile=profile),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )
    assert error.field == "kind"


@pytest.mark.parametrize(
    "key",
    [
        "Phuoc-Binh.vhxh",
        "phuoc binh.vhxh",
        "phuoc_binh.vhxh",
        "",
        "-vhxh",
        "vhxh.",
        "pb..vhxh",
        "phước-bình",
    ],
)
def test_an_agency_id_must_be_a_slug(key: str) -> None:
    error = then_not_created(lambda: register(key), errors.InvalidValueError, "INVALID_VALUE")
    assert error.field == "id"


@pytest.mark.parametrize("key", ["vhxh", "phuoc-binh.vhxh", "pb.truong-thcs.2"])
def test_a_slug_of_letters_digits_dashes_and_dots_is_an_agency_id(key: str) -> None:
    assert register(key).key == key


@pytest.mark.parametrize("name", ["", None])
def test_an_agency_needs_its_vietnamese_name(name: str | None) -> None:
    error = then_not_created(
        lambda: register(name_vi=name), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "name_vi"


def test_an_agency_profile_refuses_fields_an_agency_does_not_have() -> None:
    error = then_not_created(
        lambda: register(phone="0251"), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "phone"


# Members: only on collectives ------------------------------------------------------


def test_a_collective_lists_its_members() -> None:
    collective = register(
        ALL_UNITS, kind="collective", name_vi="Các cơ quan, đơn vị", members=[MEMBER, OFFICE]
    )
    assert collective.members == [MEMBER, OFFICE]


def test_a_collective_may_have_no_members_when_it_means_the_public() -> None:
    public = register(
        "phuoc-binh.public", kind="collective", name_vi="Công dân, doanh nghiệp", members=[]
    )
    assert public.members == []


@pytest.mark.parametrize("kind", ["department", "school", "committee"])
def test_only_a_collective_has_members(kind: str) -> None:
    error = then_not_created(
        lambda: register(kind=kind, members=[MEMBER]), errors.InvalidValueError, "INVALID_VALUE"
    )
    assert error.field == "members"


# Update ----------------------------------------------------------------------------


def test_an_update_records_only_the_fields_that_changed() -> None:
    agency = given_agency()
    changed = agency.update(
        ctx(REGISTRY),
        profile=agency_profile(name_en="Culture and Society Department"),
        reason="tên mới",
    )
    assert changed is True
    events = new_events(agency)
    assert [type(e).__name__ for e in events] == ["ProfileChanged"]
    assert isinstance(events[0], Agency.ProfileChanged)
    assert events[0].changes == {"name_en": "Culture and Society Department"}
    assert events[0].reason == "tên mới"
    assert agency.profile["name_en"] == "Culture and Society Department"


def test_an_update_adding_a_field_records_it() -> None:
    agency = given_agency()
    assert agency.update(ctx(REGISTRY), profile=agency_profile(aliases=["Phòng VHXH"]), reason="r")
    event = agency.pending_events[0]
    assert isinstance(event, Agency.ProfileChanged)
    assert event.changes == {"aliases": ["Phòng VHXH"]}


def test_an_update_that_changes_nothing_returns_false_and_records_nothing() -> None:
    agency = given_agency(aliases=["Phòng VHXH"])
    assert (
        agency.update(ctx(REGISTRY), profile=agency_profile(aliases=["Phòng VHXH"]), reason="r")
        is False
    )
    assert agency.pending_events == []


def test_an_update_keeps_the_profile_valid() -> None:
    agency = given_agency()
    then_refused(
        agency,
        lambda a: a.update(ctx(REGISTRY), profile=agency_profile(kind="ministry"), reason="r"),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )
    then_refused(
        agency,
        lambda a: a.update(ctx(REGISTRY), profile=agency_profile(members=[MEMBER]), reason="r"),
        errors.InvalidValueError,
        "INVALID_VALUE",
    )


def test_a_collective_gains_a_member_by_an_update() -> None:
    collective = given_agency(ALL_UNITS, kind="collective", members=[OFFICE])
    profile = agency_profile(kind="collective", members=[OFFICE, MEMBER])
    assert collective.update(ctx(REGISTRY), profile=profile, reason="thêm trường mầm non") is True
    assert collective.members == [OFFICE, MEMBER]


def test_an_update_that_drops_a_field_records_its_removal() -> None:
    agency = given_agency(aliases=["Phòng VHXH"])
    assert agency.update(ctx(REGISTRY), profile=agency_profile(), reason="bỏ tên gọi khác") is True
    assert "aliases" not in agency.profile


# Provenance ------------------------------------------------------------------------


def test_every_kind_of_agency_event_carries_its_provenance() -> None:
    registered, updated = (
        ctx(REGISTRY, day=day, person=None, channel="registry")
        for day in ("2026-01-01", "2026-01-02")
    )
    agency = Agency.register(registered, id=agency_id(OFFICE), key=OFFICE, profile=agency_profile())
    agency.update(updated, profile=agency_profile(name_en="Culture"), reason="r")
    first, second = new_events(agency)
    assert (type(first).__name__, type(second).__name__) == ("Registered", "ProfileChanged")
    assert_provenance(first, registered)
    assert_provenance(second, updated)
