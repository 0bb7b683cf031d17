"""The role matrix, cell by cell, over real mutual TLS: every method of the six
services called as every role (with that role's certificate from the tests'
authority), and anonymously over a plaintext development server. Generated from the
table itself (``services/wire/roles.py``, which ``docs/roles.md`` shows): a cell the
table opens must be let through the gate (whatever the method then answers), a cell
it closes refused with its reason.

Unary methods get an empty request (a read answers, a write is refused by its own
rules); streaming methods get bytes that are no request, so that a call let through
ends at once with UNDECODABLE instead of streaming on.

Also here: the gate's other refusals (an identity the registry does not know, a role
that is none, a collective) and the rate limit per identity.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import grpc
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lienthong.v1 import (
    audit_service_pb2,
    ingest_service_pb2,
    plan_service_pb2,
    plan_service_pb2_grpc,
    reports_pb2,
    review_service_pb2,
    review_service_pb2_grpc,
    watch_service_pb2,
)
from psycopg import sql

from domain.keys import Role
from lienthong_sdk.identity import Identity
from services.app.ledger import Ledger
from services.store.database import Database, ensure_database
from services.wire.roles import METHODS, Caller, may_call
from tests import identities
from tests.e2e.conftest import ServerThread, open_tls_channel, prepare, tls_settings
from tests.e2e.test_grpc_api import detail, status_of

TIMEOUT = 20
AS = {  # the identity that plays each role
    Role.AGENCY: "phuoc-binh.health-post",
    Role.OFFICE: "phuoc-binh.vhxh",
    Role.STEERING_COMMITTEE: "phuoc-binh.steering-committee",
    Role.AUDITOR: "auditor",
    Role.OPERATOR: "operator",
}
CALLERS: list[Caller] = [*Role, None]
GATE_REASONS = {"ROLE_NOT_ALLOWED", "CLIENT_CERTIFICATE_REQUIRED", "IDENTITY_UNKNOWN"}
NOT_A_REQUEST = b"\xff\xff\xff"
UNANSWERED = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAUTHENTICATED,
}

SERVICES = [
    module.DESCRIPTOR.services_by_name[name]
    for module, name in (
        (ingest_service_pb2, "IngestService"),
        (review_service_pb2, "ReviewService"),
        (plan_service_pb2, "PlanService"),
        (watch_service_pb2, "WatchService"),
        (audit_service_pb2, "AuditService"),
        (reports_pb2, "ReportService"),
    )
]
DESCRIPTORS: dict[str, MethodDescriptor] = {
    f"{service.full_name}/{method.name}": method
    for service in SERVICES
    for method in service.methods
}


@dataclass
class Site:
    server: ServerThread  # mutual TLS
    plaintext: ServerThread  # development mode, on the same store
    channels: dict[Caller, grpc.Channel]


@pytest.fixture(scope="module")
def site(postgres: Database) -> Iterator[Site]:
    name = f"test_roles_{uuid.uuid4().hex[:12]}"
    database = ensure_database(postgres, name)
    app = Ledger(env=database.eventsourcing_env())
    prepare(app)
    server = ServerThread(app)
    server.start()
    reader = Ledger(env=database.eventsourcing_env())
    plaintext = ServerThread(reader, settings=tls_settings(plaintext=True))
    plaintext.start()
    channels: dict[Caller, grpc.Channel] = {
        role: open_tls_channel(server.address, who, role) for role, who in AS.items()
    }
    channels[None] = grpc.insecure_channel(plaintext.address)
    grpc.channel_ready_future(channels[None]).result(timeout=TIMEOUT)
    yield Site(server, plaintext, channels)
    for channel in channels.values():
        channel.close()
    plaintext.stop()
    server.stop()
    reader.close()
    app.close()
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def call(channel: grpc.Channel, method: str) -> None:
    """Call ``method``: an empty request when unary, bytes that are no request when
    streaming (raises the call's error when it fails)."""
    descriptor = DESCRIPTORS[method]
    path = f"/{method}"
    if descriptor.client_streaming:
        channel.stream_unary(path)(iter([NOT_A_REQUEST]), timeout=TIMEOUT)
    elif descriptor.server_streaming:
        list(channel.unary_stream(path)(NOT_A_REQUEST, timeout=TIMEOUT))
    else:
        request = GetMessageClass(descriptor.input_type)()
        channel.unary_unary(path, request_serializer=type(request).SerializeToString)(
            request, timeout=TIMEOUT
        )


def outcome(channel: grpc.Channel, method: str) -> tuple[grpc.StatusCode, str]:
    """The status code and reason a call of ``method`` ends with (OK and "")."""
    try:
        call(channel, method)
    except grpc.RpcError as error:
        return error.code(), reason_of(error)
    return grpc.StatusCode.OK, ""


def reason_of(error: grpc.RpcError) -> str:
    """The ``ErrorInfo`` reason of a failed call; "" when it has none."""
    for any_detail in status_of(error).details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
            return info.reason
    return ""


def expected(caller: Caller, method: str) -> tuple[grpc.StatusCode, str] | None:
    if may_call(caller, method):
        return None
    if caller is None:
        return grpc.StatusCode.UNAUTHENTICATED, "CLIENT_CERTIFICATE_REQUIRED"
    return grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED"


def name_of(caller: Caller) -> str:
    return "anonymous" if caller is None else caller.value


@pytest.mark.parametrize("caller", CALLERS, ids=[name_of(c) for c in CALLERS])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_as_every_role_is_allowed_or_refused_as_the_matrix_says(
    site: Site, method: str, caller: Caller
) -> None:
    code, reason = outcome(site.channels[caller], method)
    refusal = expected(caller, method)
    if refusal is None:  # let through: answered by the method's own rules
        assert code not in UNANSWERED, (code, reason)
        assert reason not in GATE_REASONS
    else:
        assert (code, reason) == refusal


def test_the_matrix_covers_every_method_the_server_serves() -> None:
    assert set(METHODS) == set(DESCRIPTORS)


@pytest.mark.parametrize("caller", CALLERS, ids=[name_of(c) for c in CALLERS])
def test_health_is_open_to_every_caller(site: Site, caller: Caller) -> None:
    health = health_pb2_grpc.HealthStub(site.channels[caller])
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_an_allowed_read_answers_as_the_auditor(site: Site) -> None:
    plans = plan_service_pb2_grpc.PlanServiceStub(site.channels[Role.AUDITOR])
    listed = plans.ListPlans(plan_service_pb2.ListPlansRequest(), timeout=TIMEOUT)
    assert listed.plans


# The gate's other refusals ------------------------------------------------------------


def issued(name: str, unit: object) -> Identity:
    """A certificate of the tests' authority for ``name`` with OU ``unit.value``."""
    certificate, key = identities.authority().issue(name, unit)  # type: ignore[arg-type]
    return Identity(
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        (identities.folder() / "ca.pem").read_bytes(),
    )


def refusal_of(identity: Identity, site: Site) -> tuple[grpc.StatusCode, str]:
    with identity.secure_channel(site.server.address) as channel:
        plans = plan_service_pb2_grpc.PlanServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            plans.ListPlans(plan_service_pb2.ListPlansRequest(), timeout=TIMEOUT)
    error = raised.value
    return error.code(), detail(status_of(error), error_details_pb2.ErrorInfo).reason


def test_an_agency_the_registry_does_not_know_is_unauthenticated(
    site: Site, tmp_path: Path
) -> None:
    stranger = issued("phuoc-binh.nobody", Role.AGENCY)
    assert refusal_of(stranger, site) == (grpc.StatusCode.UNAUTHENTICATED, "IDENTITY_UNKNOWN")


def test_a_certificate_whose_role_is_none_is_unauthenticated(site: Site, tmp_path: Path) -> None:
    janitor = issued("phuoc-binh.health-post", SimpleNamespace(value="janitor"))
    assert refusal_of(janitor, site) == (grpc.StatusCode.UNAUTHENTICATED, "IDENTITY_UNKNOWN")


def test_a_collective_holding_a_certificate_is_refused(site: Site, tmp_path: Path) -> None:
    collective = issued("phuoc-binh.all-agencies", Role.AGENCY)
    assert refusal_of(collective, site) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "COLLECTIVE_CANNOT_ACT",
    )


# Fair use -------------------------------------------------------------------------------


def test_one_identity_over_its_rate_is_refused_while_another_is_served(app: Ledger) -> None:
    prepare(app)
    # one call a day after a burst of two: the third call of an identity is over it
    server = ServerThread(app, settings=tls_settings(rate_per_second=1 / 86400, rate_burst=2))
    server.start()
    try:
        with (
            open_tls_channel(server.address, AS[Role.AGENCY]) as greedy,
            open_tls_channel(server.address, AS[Role.OFFICE]) as other,
        ):
            greedy_plans = plan_service_pb2_grpc.PlanServiceStub(greedy)
            request = plan_service_pb2.ListPlansRequest()
            greedy_plans.ListPlans(request, timeout=TIMEOUT)
            greedy_plans.ListPlans(request, timeout=TIMEOUT)
            with pytest.raises(grpc.RpcError) as raised:
                greedy_plans.ListPlans(request, timeout=TIMEOUT)
            other_plans = plan_service_pb2_grpc.PlanServiceStub(other)
            served = other_plans.ListPlans(request, timeout=TIMEOUT)
    finally:
        server.stop()
    error = raised.value
    status = status_of(error)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert detail(status, error_details_pb2.ErrorInfo).reason == "RATE_LIMITED"
    assert detail(status, error_details_pb2.RetryInfo).retry_delay.seconds > 0
    assert served.plans


def test_an_agency_system_may_not_move_a_deadline_even_naming_the_office(
    tls_channel: Callable[[str], grpc.Channel],
) -> None:
    """The impersonation of issue 12: the police's certificate, the office's name."""
    review = review_service_pb2_grpc.ReviewServiceStub(tls_channel("phuoc-binh.police"))
    request = review_service_pb2.ChangeDeadlineRequest(
        request_id=str(uuid.uuid4()),
        reviewer=review_service_pb2.Reviewer(agency_id="phuoc-binh.vhxh"),
        subject="phuoc-binh-2026/task/28",
        deadline="2026-12-31",
        reason="giả mạo",
    )
    signed = identities.signer("phuoc-binh.police").sign(request)
    with pytest.raises(grpc.RpcError) as raised:
        review.ChangeDeadline(signed, timeout=TIMEOUT)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason_of(raised.value) == "ROLE_NOT_ALLOWED"
