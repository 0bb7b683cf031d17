"""deploy/Dockerfile, read without Docker: the build stage copies every folder the
package is built from (pyproject.toml), and the image holds what the manifests and the
compose file run: the `lienthong` command, the agency registry, the topic tool and
grpc_health_probe."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.documents import DEPLOY, ROOT, of_kind

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
COPIED = {
    source
    for line in DOCKERFILE.splitlines()
    if (match := re.match(r"COPY (?!--from)(.+) (\S+)$", line))
    for source in match[1].split()
}


def test_the_build_copies_every_folder_the_package_is_built_from() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    mapped = setuptools.get("package-dir", {})
    for package in setuptools["packages"]:
        top = package.split(".")[0]
        folder = mapped.get(top, top).split("/")[0]
        assert folder in COPIED, (
            f"{package} comes from {folder}/, which the Dockerfile does not copy"
        )
    assert {"pyproject.toml", config["project"]["readme"]} <= COPIED


def test_the_image_holds_what_the_deployments_run() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "lienthong" in config["project"]["scripts"]
    assert 'ENTRYPOINT ["lienthong"]' in DOCKERFILE
    assert {"data", "deploy/kafka/topics.py"} <= COPIED
    assert "ENV PATH=/opt/lienthong/bin:$PATH" in DOCKERFILE
    assert "LIENTHONG_AGENCIES=/app/data/agencies.yaml" in DOCKERFILE
    assert (ROOT / "data" / "agencies.yaml").is_file()
    assert "/usr/local/bin/grpc_health_probe" in DOCKERFILE
    assert re.search(r"^USER \d+$", DOCKERFILE, re.MULTILINE), "runs as a non-root user"
    assert "USER 10001" in DOCKERFILE
    for deployment in of_kind("Deployment"):  # the manifests run it as that user
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
