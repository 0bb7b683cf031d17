# ruff: noqa: INP001
# (a folder of data and one script, not a package)
"""Extract a CRD's openAPIV3Schema (its storage version) into a JSON file here, with
where it came from. How the bundled schemas were made (README.md in this folder)::

    python deploy/k8s/schemas/extract.py CRD.yaml OUT.json --source "REPO@TAG:PATH"
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import yaml


def extract(crd_text: str, source: str) -> dict[str, object]:
    crd = yaml.safe_load(crd_text)
    spec = crd["spec"]
    version = next(v for v in spec["versions"] if v.get("storage"))
    kind = spec["names"]["kind"]
    return {
        "$comment": (
            f"openAPIV3Schema of {spec['group']}/{version['name']} {kind} (the CRD's storage "
            f"version), from {source}; made by deploy/k8s/schemas/extract.py"
        ),
        "x-kubernetes-group-version-kind": {
            "group": spec["group"],
            "version": version["name"],
            "kind": kind,
        },
        **version["schema"]["openAPIV3Schema"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("crd", type=Path, help="the CustomResourceDefinition (YAML)")
    parser.add_argument("out", type=Path, help="the JSON schema to write")
    parser.add_argument("--source", required=True, help="where the CRD came from (REPO@TAG:PATH)")
    args = parser.parse_args(argv)
    schema = extract(args.crd.read_text(), args.source)
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
