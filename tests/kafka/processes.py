"""A ``lienthong`` command in a process of its own, as the Kafka tests run the worker
and the checkpointer: started, stopped, killed with SIGKILL, started again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class CliProcess:
    """``lienthong COMMAND`` in a process of its own, restartable, killable; its output
    appended to ``log``."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.command = command
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", self.command],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
