"""The deployments' health checks, run for real: the exact grpc_health_probe commands of
deploy/k8s/api.yaml's probes and deploy/compose.yaml's health check, against a real
server over mutual TLS (the secrets' paths swapped for the tests' authority's files).

Needs the grpc_health_probe binary the image builds (deploy/Dockerfile), which `make
test` builds into .tools/bin (`make probe`); skipped when it is neither there nor on
PATH (the test never downloads anything)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from services.app.identity import Role
from services.app.pki import identity_files, init_pki
from tests import identities
from tests.deploy.documents import COMPOSE, ROOT, by_name, containers, documents
from tests.e2e.conftest import ServerThread

HANG = 60
BINARY = shutil.which("grpc_health_probe") or shutil.which(
    "grpc-health-probe", path=str(ROOT / ".tools" / "bin")
)
pytestmark = pytest.mark.skipif(BINARY is None, reason="grpc_health_probe is not installed")


def probe_commands() -> dict[str, list[str]]:
    (api,) = containers(by_name("Deployment", "lienthong-api"))
    commands = {
        kind: api[kind]["exec"]["command"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    (compose,) = documents(COMPOSE)
    commands["compose"] = compose["services"]["api"]["healthcheck"]["test"][1:]
    return commands


def run_as_deployed(command: list[str], address: str, certificate: Path, key: Path) -> int:
    """``command`` with the pod's address and mounted files swapped for the test's."""
    swapped = []
    for argument in command[1:]:
        name, _, value = argument.partition("=")
        if name == "-addr":
            value = address
        elif name == "-tls-client-cert":
            value = str(certificate)
        elif name == "-tls-client-key":
            value = str(key)
        swapped.append(f"{name}={value}" if _ else name)
    assert BINARY is not None
    done = subprocess.run(
        [BINARY, *swapped], capture_output=True, text=True, timeout=HANG, check=False
    )
    return done.returncode


@pytest.mark.parametrize("kind", list(probe_commands()))
def test_the_deployed_probe_finds_the_server_serving(server: ServerThread, kind: str) -> None:
    files = identity_files(identities.folder(), "operator", Role.OPERATOR)
    command = probe_commands()[kind]
    assert run_as_deployed(command, server.address, files.certificate, files.key) == 0


def test_without_a_trusted_client_certificate_the_probe_fails(
    server: ServerThread, tmp_path: Path
) -> None:
    """Why the probes are exec probes with a certificate, not Kubernetes' `grpc:` probe."""
    command = probe_commands()["readinessProbe"]
    plain = [argument for argument in command if not argument.startswith("-tls")]
    assert BINARY is not None
    done = subprocess.run(
        [
            BINARY,
            *[a if not a.startswith("-addr") else f"-addr={server.address}" for a in plain[1:]],
        ],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert done.returncode != 0
    stranger = tmp_path / "stranger"  # an authority the server does not trust
    init_pki(stranger, {})
    files = identity_files(stranger, "operator", Role.OPERATOR)
    assert run_as_deployed(command, server.address, files.certificate, files.key) != 0


def test_no_secret_path_escapes_the_swap() -> None:
    for command in probe_commands().values():
        assert command[0] == "grpc_health_probe"
        paths = [a.partition("=")[2] for a in command if a.startswith("-tls-client")]
        assert len(paths) == 2
        assert all(Path(path).is_absolute() for path in paths)
