"""docs/roles.md shows the role matrix of services/wire/roles.py, cell by cell."""

from __future__ import annotations

import re
from pathlib import Path

from lienthong.v1 import (
    audit_service_pb2,
    envelope_pb2,
    ingest_service_pb2,
    plan_service_pb2,
    reports_pb2,
    review_service_pb2,
    watch_service_pb2,
)

from domain.keys import Role
from services.wire.roles import ENVELOPE_KINDS, METHODS, may_call, may_send

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
ANONYMOUS = "anonymous (dev)"


def table(first_header: str) -> tuple[list[str], dict[str, list[str]]]:
    """The columns and rows (name → cells) of the page's table whose first header is
    ``first_header``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.sub(r"^`|`$", "", cells[0])
        assert name not in rows, f"{name} appears twice"
        rows[name] = cells[1:]
    return header[1:], rows


def role_of(column: str) -> Role | None:
    return None if column == ANONYMOUS else Role(column)


def test_the_method_table_is_the_matrix() -> None:
    columns, rows = table("Method")
    assert [role_of(c) for c in columns] == [*Role, None]
    assert set(rows) == {m.removeprefix("lienthong.v1.") for m in METHODS}
    for method, cells in rows.items():
        for column, cell in zip(columns, cells, strict=True):
            allowed = may_call(role_of(column), f"lienthong.v1.{method}")
            assert cell == ("✓" if allowed else "✗"), (method, column)


def test_the_envelope_table_is_the_matrix() -> None:
    columns, rows = table("Envelope kind")
    assert [Role(c) for c in columns] == list(Role)
    assert set(rows) == set(ENVELOPE_KINDS)
    for kind, cells in rows.items():
        for column, cell in zip(columns, cells, strict=True):
            assert cell == ("✓" if may_send(Role(column), kind) else "✗"), (kind, column)


def test_the_matrix_names_every_method_of_the_six_services() -> None:
    methods = {
        f"{service.full_name}/{method.name}"
        for module in (
            audit_service_pb2,
            ingest_service_pb2,
            plan_service_pb2,
            reports_pb2,
            review_service_pb2,
            watch_service_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(METHODS) == methods


def test_the_matrix_names_every_kind_of_envelope() -> None:
    payload = envelope_pb2.AgencyEventEnvelope.DESCRIPTOR.oneofs_by_name["payload"]
    assert set(ENVELOPE_KINDS) == {f.name for f in payload.fields}


def test_an_anonymous_caller_sends_nothing_and_an_unknown_method_is_closed() -> None:
    assert not any(may_send(None, kind) for kind in ENVELOPE_KINDS)
    assert not any(may_call(role, "lienthong.v1.PlanService/DropEverything") for role in Role)
    assert may_send(Role.AUDITOR, "no_such_kind")  # left to the codec's own refusal
