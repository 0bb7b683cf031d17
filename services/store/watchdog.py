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

from services.store.database import WATCHDOG_PID, alive_owners, revive, server_of, stop_server

EVERY_SECONDS = 0.5
log = logging.getLogger("lienthong.watchdog")


def watch(pgdata: Path) -> None:
    server = server_of(pgdata)
    with server._lock:  # noqa: SLF001 - the library's inter-process lock
        server.global_process_id_list.get_and_remove(os.getpid())
    atexit.unregister(server._cleanup)  # noqa: SLF001 - a watchdog owns nothing
    while True:
        time.sleep(EVERY_SECONDS)
        with server._lock:  # noqa: SLF001
            if not alive_owners(server):
                stop_server(pgdata)
                (pgdata / WATCHDOG_PID).unlink(missing_ok=True)
                return
            try:
                if revive(server, pgdata):
                    log.warning("PostgreSQL in %s was not running: started it again", pgdata)
            except Exception:
                log.exception("starting PostgreSQL in %s failed; trying again", pgdata)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    watch(Path(sys.argv[1]))
