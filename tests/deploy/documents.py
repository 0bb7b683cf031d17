"""What the deployment tests read: the manifests, the compose file, the bundled CRD
schemas and the settings README documents."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = K8S / "schemas"
COMPOSE = DEPLOY / "compose.yaml"
KUSTOMIZATION = K8S / "kustomization.yaml"
SECRET_TEMPLATES = K8S / "secrets.template.yaml"
KUBERNETES_VERSION = (
    "1.33.0"  # the oldest the manifests are meant for; native grpc probes GA in 1.27
)

# Custom resources and the bundled openAPIV3Schema each is validated against.
CRD_SCHEMAS = {
    ("kafka.strimzi.io/v1", "Kafka"): "strimzi-kafka.json",
    ("kafka.strimzi.io/v1", "KafkaNodePool"): "strimzi-kafkanodepool.json",
    ("kafka.strimzi.io/v1", "KafkaTopic"): "strimzi-kafkatopic.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.json",
}


def manifest_files() -> list[Path]:
    """Every manifest under deploy/k8s (the kustomization itself and schemas/ aside)."""
    return sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)


@cache
def documents(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)


def all_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in manifest_files() for doc in documents(path)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in all_documents() if doc["kind"] == kind]


def by_name(kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return found


@cache
def crd_schema(file: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / file).read_text())
    return loaded


def strict(schema: Any) -> Any:
    """``schema`` with unknown fields refused wherever the CRD lists an object's fields
    and does not keep unknown ones (as the API server prunes them: a typo there would
    vanish silently; as ``kubeconform -strict``)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def documented_settings() -> frozenset[str]:
    """The ``LIENTHONG_*`` names of README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `LIENTHONG_")]
    return frozenset(
        name for row in rows for name in re.findall(r"`(LIENTHONG_[A-Z_]+)`", row.split("|")[1])
    )


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]
