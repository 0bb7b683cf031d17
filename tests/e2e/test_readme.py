"""The README's Python example runs as written, against a real server (mutual TLS:
the example's PKI folder, ``.lienthong/pki``, is the tests' throwaway authority)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import ServerThread
from tests.identities import folder

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_python_example_reports_progress(server: ServerThread, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "the README has no Python example"
    for block in blocks:
        here = block.replace("127.0.0.1:50051", f"127.0.0.1:{server.port}")
        here = here.replace(".lienthong/pki", str(folder()))
        exec(here, {})  # noqa: S102
    assert capsys.readouterr().out.split()[0] == "accepted"
