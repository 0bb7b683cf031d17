"""The embedded server's watchdog: ``python -m services.store.watchdog PGDATA``.

Started (once per data directory) by :func:`services.store.database.embedded_server`,
in a session of its own. Every :data:`EVERY_SECONDS` it looks at the server's owners
(``lienthong`` processes that use it): while one is alive it brings the server back if
it is not running (killed, crashed, stopped); once none is, it stops the server and
exits. It is not an owner itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from services.store.database import (
    WATCHDOG_PID,
    alive_owners,
    postmaster_alive,
    revive,
    server_lock,
    server_of,
    stop_server,
)

EVERY_SECONDS = 0.5
log = logging.getLogger("lienthong.watchdog")


def watch(pgdata: Path) -> None:
    """Tend the server of ``pgdata`` until no owner is left; every failure is logged and
    tried again at the next look."""
    server = None
    while True:
        time.sleep(EVERY_SECONDS)
        if not pgdata.is_dir():
            return  # the data directory is gone: nothing left to tend
        try:
            with server_lock():
                if not alive_owners(pgdata):
                    stop_server(pgdata)
                    (pgdata / WATCHDOG_PID).unlink(missing_ok=True)
                    return
                if postmaster_alive(pgdata):
                    continue
                if server is not None:
                    revive(server, pgdata)
            if server is None:  # the library's handle starts the server (taking the lock)
                server = adopt(pgdata)
            log.warning("PostgreSQL in %s was not running: started it again", pgdata)
        except Exception:
            log.exception("tending PostgreSQL in %s failed; trying again", pgdata)


def adopt(pgdata: Path) -> Any:
    """A handle of the server (started if it is not running) that does not make this
    process one of its owners."""
    server = server_of(pgdata)
    with server_lock():
        server.global_process_id_list.get_and_remove(os.getpid())
    atexit.unregister(server._cleanup)  # noqa: SLF001 - a watchdog owns nothing
    return server


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    watch(Path(sys.argv[1]))
