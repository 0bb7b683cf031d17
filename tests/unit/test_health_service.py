"""The background processes' health service in this process (services.grpc.health):
its setting, its security rules (the API server's), and what it answers."""

from __future__ import annotations

import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.grpc.health import ADDRESS_ENV, HealthSettings, start_health
from services.grpc.server import PLAINTEXT_ENV, TLS_CERT_ENV
from services.metrics import PORT_OFFSETS
from services.store.database import ConfigurationError

BACKGROUND = ("ingest-worker", "relay", "checkpointer", "reminders")


def test_unset_or_off_serves_no_health(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "off", "OFF"):
        monkeypatch.setenv(ADDRESS_ENV, value)
        assert HealthSettings.from_env().address("relay") is None
        assert start_health("relay", lambda: True) is None
    monkeypatch.delenv(ADDRESS_ENV)
    assert HealthSettings.from_env().address("relay") is None


def test_each_background_process_has_a_port_of_its_own_from_one_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, "127.0.0.1:9470")
    settings = HealthSettings.from_env()
    ports = {settings.address(command) for command in BACKGROUND}
    assert ports == {f"127.0.0.1:{9470 + PORT_OFFSETS[c]}" for c in BACKGROUND}
    assert len(ports) == len(BACKGROUND)
    monkeypatch.setenv(ADDRESS_ENV, "[::1]:0")
    assert HealthSettings.from_env().address("relay") == "[::1]:0"  # a free port each


@pytest.mark.parametrize("value", ["9470", "localhost:port", "127.0.0.1:65535", ":9470"])
def test_a_malformed_address_is_a_configuration_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, value)
    with pytest.raises(ConfigurationError, match=ADDRESS_ENV):
        HealthSettings.from_env()


def test_plaintext_off_loopback_and_a_missing_certificate_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, "0.0.0.0:0")
    monkeypatch.setenv(PLAINTEXT_ENV, "1")
    with pytest.raises(ConfigurationError, match="loopback"):
        start_health("relay", lambda: True)
    monkeypatch.delenv(PLAINTEXT_ENV)
    monkeypatch.setenv(TLS_CERT_ENV, str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match=TLS_CERT_ENV):
        start_health("relay", lambda: True)


def test_it_answers_what_the_process_says_and_not_serving_once_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, "127.0.0.1:0")
    monkeypatch.setenv(PLAINTEXT_ENV, "1")  # on loopback: allowed, for this test
    serving = threading.Event()
    server = start_health("relay", serving.is_set)
    assert server is not None
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        seen = [next(watch).status]
        serving.set()
        seen.append(next(watch).status)
        serving.clear()
        seen.append(next(watch).status)
        server.stop()
        seen.append(next(watch).status)
    response = health_pb2.HealthCheckResponse
    assert seen == [
        response.NOT_SERVING,
        response.SERVING,
        response.NOT_SERVING,
        response.NOT_SERVING,
    ]
