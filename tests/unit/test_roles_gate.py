"""The server's TLS settings and the gate's parts that need no server: plaintext only
on loopback, missing certificate files named with their setting, the token bucket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from domain.ids import agency_id
from domain.keys import Role
from services.app.identity import Identity
from services.grpc.auth import CallRefusedError, Gate, RateLimiter, host_of
from services.grpc.callers import current_caller
from services.grpc.errors import admitted
from services.grpc.server import ServerSettings, is_loopback
from services.store.database import ConfigurationError
from tests.identities import identity

HEALTH = "phuoc-binh.health-post"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.0.0.2:0", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.0.0.5:50051", False),
        ("lienthong.example:50051", False),
    ],
)
def test_loopback_addresses_are_told_from_the_others(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_plaintext_is_refused_on_an_address_that_is_not_loopback() -> None:
    settings = ServerSettings(address="0.0.0.0:50051", plaintext=True)
    with pytest.raises(ConfigurationError, match="loopback"):
        settings.credentials()


def test_plaintext_on_loopback_has_no_credentials() -> None:
    assert ServerSettings(address="127.0.0.1:0", plaintext=True).credentials() is None


@pytest.mark.parametrize(
    ("missing", "setting"),
    [
        ("certificate", "LIENTHONG_TLS_CERT"),
        ("private_key", "LIENTHONG_TLS_KEY"),
        ("trust_anchors", "LIENTHONG_TRUST_ANCHORS"),
    ],
)
def test_a_missing_tls_file_names_its_setting_and_pki_init(
    tmp_path: Path, missing: str, setting: str
) -> None:
    files = {}
    for field in ("certificate", "private_key", "trust_anchors"):
        files[field] = tmp_path / f"{field}.pem"
        if field != missing:
            files[field].write_text("-")
    settings = ServerSettings(**files)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as raised:
        settings.credentials()
    assert setting in str(raised.value)
    assert "lienthong pki init" in str(raised.value)


def test_the_tls_files_default_to_the_pki_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENTHONG_PKI_DIR", str(tmp_path))
    monkeypatch.delenv("LIENTHONG_TRUST_ANCHORS", raising=False)
    for name in ("server.pem", "server.key", "ca.pem"):
        (tmp_path / name).write_text("-")
    assert ServerSettings().tls_files() == (
        tmp_path / "server.pem",
        tmp_path / "server.key",
        tmp_path / "ca.pem",
    )


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_TLS_CERT", "/etc/lienthong/server.pem")
    monkeypatch.setenv("LIENTHONG_TLS_KEY", "/etc/lienthong/server.key")
    monkeypatch.setenv("LIENTHONG_TRUST_ANCHORS", "/etc/lienthong/gov-ca.pem")
    monkeypatch.setenv("LIENTHONG_GRPC_PLAINTEXT", "1")
    monkeypatch.setenv("LIENTHONG_RATE_PER_SECOND", "5")
    monkeypatch.setenv("LIENTHONG_RATE_BURST", "10")
    settings = ServerSettings.from_env()
    assert settings.certificate == Path("/etc/lienthong/server.pem")
    assert settings.private_key == Path("/etc/lienthong/server.key")
    assert settings.trust_anchors == Path("/etc/lienthong/gov-ca.pem")
    assert settings.plaintext
    assert (settings.rate_per_second, settings.rate_burst) == (5, 10)


def test_plaintext_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIENTHONG_GRPC_PLAINTEXT", raising=False)
    assert not ServerSettings.from_env().plaintext


def test_a_rate_that_is_not_a_number_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIENTHONG_RATE_PER_SECOND", "fast")
    with pytest.raises(ConfigurationError, match="LIENTHONG_RATE"):
        ServerSettings.from_env()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token comes in half a second
    clock.now = 0.5
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0


def test_each_identity_has_a_bucket_of_its_own() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.take("agency:a") == 0
    assert limiter.take("agency:a") > 0
    assert limiter.take("agency:b") == 0


def test_the_host_of_a_peer_drops_its_port() -> None:
    assert host_of("ipv4:127.0.0.1:5555") == "127.0.0.1"
    assert host_of("ipv6:[::1]:5555") == "[::1]"


# The gate on a call, with a stand-in for the store ------------------------------------


class Registry:
    """A store that knows the agencies it is given."""

    def __init__(self, *agencies: str) -> None:
        self.ids = {agency_id(a) for a in agencies}

    def exists(self, aggregate_id: object) -> bool:
        return aggregate_id in self.ids

    def agency(self, _: str) -> Any:
        return SimpleNamespace(require_may_act=lambda: None)


class Call:
    """The servicer context of a call over mutual TLS with ``pem`` (None: plaintext)."""

    def __init__(self, pem: bytes | None) -> None:
        self.pem = pem

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.pem]} if self.pem else {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:40000"


def caller_after(gate: Gate, pem: bytes | None, method: str) -> Identity | None:
    """The call's CALLER once the gate admitted it (in the call's own context)."""

    async def run() -> Identity | None:
        await admitted(gate, Call(pem), method)  # type: ignore[arg-type]
        return current_caller()

    return asyncio.run(run())


READ = "lienthong.v1.PlanService/ListPlans"
WRITE = "lienthong.v1.IngestService/Publish"


def test_the_gate_sets_the_caller_from_the_client_certificate() -> None:
    gate = Gate(Registry(HEALTH))  # type: ignore[arg-type]
    pem = identity(HEALTH).certificate
    assert caller_after(gate, pem, WRITE) == Identity(HEALTH, Role.AGENCY)
    assert current_caller() is None  # the call's own context, not this one


def test_an_anonymous_call_may_read_and_is_no_one() -> None:
    gate = Gate(Registry())  # type: ignore[arg-type]
    assert caller_after(gate, None, READ) is None


@pytest.mark.parametrize(
    ("who", "method", "code", "reason"),
    [
        (None, WRITE, grpc.StatusCode.UNAUTHENTICATED, "CLIENT_CERTIFICATE_REQUIRED"),
        ("auditor", WRITE, grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED"),
        ("phuoc-binh.police", READ, grpc.StatusCode.UNAUTHENTICATED, "IDENTITY_UNKNOWN"),
    ],
)
def test_the_gate_refuses_with_its_reason(
    who: str | None, method: str, code: grpc.StatusCode, reason: str
) -> None:
    gate = Gate(Registry(HEALTH))  # type: ignore[arg-type]
    pem = identity(who).certificate if who else None
    with pytest.raises(CallRefusedError) as raised:
        caller_after(gate, pem, method)
    assert (raised.value.code, raised.value.reason) == (code, reason)
