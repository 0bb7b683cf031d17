"""deploy/compose.yaml: it parses (YAML merge keys and all) and is valid against the
Compose Specification's schema (bundled), runs the processes full
mode needs with commands the command line has, uses only documented settings, checks
health through the gRPC health service, and takes its secrets from the files the
throwaway authority makes (``lienthong pki init``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from services.app.identity import Role
from services.app.pki import init_pki
from services.cli import build_parser
from services.grpc.health import ADDRESS_ENV, HealthSettings
from services.grpc.server import LOG_HEALTH, SERVICES
from services.supervisor import CHILDREN
from tests.deploy.documents import COMPOSE, DEPLOY, ROOT, documented_settings

COMPOSE_FILE: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
SERVICES_OF_COMPOSE: dict[str, dict[str, Any]] = COMPOSE_FILE["services"]
COMPOSE_SPEC = json.loads((DEPLOY / "compose-spec.json").read_text())
PROCESSES = {
    "api": ["serve", "--via-kafka"],
    "ingest-worker": ["ingest-worker"],
    "relay": ["relay"],
    "checkpointer": ["checkpointer"],
    "reminders": ["reminders"],
}


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    """The schema `docker compose config` applies, bundled (deploy/compose-spec.json)."""
    validator = jsonschema.Draft7Validator(COMPOSE_SPEC)
    validator.validate(COMPOSE_FILE)
    api = SERVICES_OF_COMPOSE["api"]
    typo = {**COMPOSE_FILE, "services": {**SERVICES_OF_COMPOSE, "api": {**api, "helthcheck": {}}}}
    with pytest.raises(jsonschema.ValidationError, match="helthcheck"):
        validator.validate(typo)


def test_the_compose_file_runs_postgresql_kafka_the_topics_and_the_five_processes() -> None:
    assert set(SERVICES_OF_COMPOSE) == {"postgres", "kafka", "topics", *PROCESSES}
    # the processes of full mode (`lienthong run`), each a service of its own
    assert sorted(PROCESSES.values()) == sorted(list(command) for command in CHILDREN)
    parser = build_parser()
    for name, command in PROCESSES.items():
        service = SERVICES_OF_COMPOSE[name]
        assert service["command"] == command
        parser.parse_args(service["command"])
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (COMPOSE.parent / service["build"]["context"] / "deploy" / "Dockerfile").is_file()
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    topics = SERVICES_OF_COMPOSE["topics"]["entrypoint"]
    assert topics[1] == "/app/deploy/kafka/topics.py"  # where the Dockerfile copies it
    assert (DEPLOY / "kafka" / "topics.py").is_file()
    assert (
        "COPY deploy/kafka/topics.py deploy/kafka/topics.py" in (DEPLOY / "Dockerfile").read_text()
    )


def test_every_lienthong_setting_in_the_compose_file_is_documented() -> None:
    documented = documented_settings()
    used = set()
    for service in SERVICES_OF_COMPOSE.values():
        environment = service.get("environment", {})
        assert isinstance(environment, dict)
        used |= {name for name in environment if name.startswith("LIENTHONG_")}
    assert used, "no setting at all?"
    assert used - documented == set()
    # and nothing spelled LIENTHONG_ anywhere in the file that is not documented
    # (its secrets' files, too, are named by the settings: LIENTHONG_PKI_DIR and
    # LIENTHONG_LOG_KEY_FILE of the host)
    assert set(re.findall(r"LIENTHONG_[A-Z_]+", COMPOSE.read_text())) <= documented


def test_the_api_health_check_asks_the_grpc_health_service_over_mutual_tls() -> None:
    api = SERVICES_OF_COMPOSE["api"]
    test = api["healthcheck"]["test"]
    assert test[:2] == ["CMD", "grpc_health_probe"]
    arguments = dict(arg.lstrip("-").partition("=")[::2] for arg in test[2:])
    assert arguments["service"] in {"", *SERVICES, LOG_HEALTH}
    port = api["environment"]["LIENTHONG_GRPC_ADDRESS"].rsplit(":", 1)[1]
    assert arguments["addr"] == f"127.0.0.1:{port}"
    assert "tls" in arguments
    for file in ("tls-client-cert", "tls-client-key"):
        assert arguments[file].removeprefix("/run/secrets/") in api["secrets"]
    assert "grpc_health_probe" in (DEPLOY / "Dockerfile").read_text()


def test_the_background_processes_health_checks_ask_their_health_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ingest-worker", "relay", "reminders", "checkpointer"):
        service = SERVICES_OF_COMPOSE[name]
        environment = service["environment"]
        monkeypatch.setenv(ADDRESS_ENV, environment[ADDRESS_ENV])
        where = HealthSettings.from_env().address(service["command"][0])
        for secret in ("tls_cert", "tls_key", "trust_anchors"):
            assert secret in service["secrets"], (name, secret)
        assert environment["LIENTHONG_TLS_CERT"] == "/run/secrets/tls_cert"
        if name == "checkpointer":  # its check: the log's tree (test above)
            continue
        test = service["healthcheck"]["test"]
        assert test[:2] == ["CMD", "grpc_health_probe"]
        arguments = dict(arg.lstrip("-").partition("=")[::2] for arg in test[2:])
        assert arguments["addr"] == where
        assert arguments["service"] == ""
        assert "tls" in arguments
        for file in ("tls-client-cert", "tls-client-key"):
            assert arguments[file].removeprefix("/run/secrets/") in service["secrets"]


def test_the_secrets_are_files_the_throwaway_authority_makes_and_the_settings_name_them(
    tmp_path: Path,
) -> None:
    init_pki(tmp_path, {"phuoc-binh.health-post": Role.AGENCY})
    files = {}
    for name, secret in COMPOSE_FILE["secrets"].items():
        path = secret["file"]
        if path.startswith("${LIENTHONG_PKI_DIR:-../.lienthong/pki}/"):
            files[name] = path.split("}/", 1)[1]
            assert (tmp_path / files[name]).is_file(), path
        else:
            assert path == "${LIENTHONG_LOG_KEY_FILE:-../.lienthong/log-signing.key}"
    for service in SERVICES_OF_COMPOSE.values():
        for setting, value in service.get("environment", {}).items():
            if str(value).startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in service["secrets"], setting
    checkpointer = SERVICES_OF_COMPOSE["checkpointer"]
    assert checkpointer["environment"]["LIENTHONG_LOG_KEY_FILE"] == "/run/secrets/log_key"
    assert (ROOT / ".gitignore").read_text().count(".lienthong/") == 1  # never committed
