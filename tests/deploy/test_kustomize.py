"""`kustomize build deploy/k8s` as `kubectl apply -k` would render it: every document it
yields is valid (the same schemas as the raw manifests), in the namespace, with the image
the kustomization names. Skipped unless kustomize (or kubectl) is installed — it is not
in CI's clean machine; ``GOBIN=$PWD/.tools/bin go install
sigs.k8s.io/kustomize/kustomize/v5@v5.7.1`` installs it (the test downloads nothing)."""

from __future__ import annotations

import shutil
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.documents import (
    CRD_SCHEMAS,
    K8S,
    KUBERNETES_VERSION,
    KUSTOMIZATION,
    ROOT,
    crd_schema,
    documents,
    strict,
)

TOOLS = str(ROOT / ".tools" / "bin")
KUSTOMIZE = shutil.which("kustomize") or shutil.which("kustomize", path=TOOLS)
KUBECTL = shutil.which("kubectl")


def build() -> list[dict[str, object]]:
    if KUSTOMIZE is not None:
        command = [KUSTOMIZE, "build", str(K8S)]
    elif KUBECTL is not None:
        command = [KUBECTL, "kustomize", str(K8S)]
    else:
        pytest.skip("neither kustomize nor kubectl is installed")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_the_built_kustomization_is_valid_and_namespaced() -> None:
    built = build()
    (kustomization,) = documents(KUSTOMIZATION)
    (image,) = kustomization["images"]
    for doc in built:
        kind = (doc["apiVersion"], doc["kind"])
        if kind in CRD_SCHEMAS:
            jsonschema.Draft7Validator(strict(crd_schema(CRD_SCHEMAS[kind]))).validate(doc)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        metadata = doc["metadata"]
        assert isinstance(metadata, dict)
        if doc["kind"] != "Namespace":
            assert metadata["namespace"] == kustomization["namespace"]
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:  # type: ignore[index]
                assert container["image"] == f"{image['newName']}:{image['newTag']}"
    assert len(built) == sum(len(documents(K8S / name)) for name in kustomization["resources"])
