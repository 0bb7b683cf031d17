"""The dashboard in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through Selenium), against the dashboard served by uvicorn on a
free port, reading a real gRPC server (over mutual TLS, as the auditor) on a real
PostgreSQL with the four plans imported.

``make browser`` installs Chromium when it is missing; ``make test`` depends on it.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from domain.keys import Role
from services.app.pki import identity_files
from tests import identities
from tests.e2e import conftest as e2e
from tests.e2e.conftest import START_TIMEOUT, ServerThread

server = e2e.server  # the real API server over mutual TLS, the plans imported
AS_OF = "2026-06-01"  # the day the tests' pages are judged on


@dataclass
class RunningDashboard:
    url: str
    settings: DashboardSettings


@pytest.fixture
def dashboard(server: ServerThread) -> Iterator[RunningDashboard]:
    """The dashboard on a free loopback port, as the auditor, judging pages on AS_OF."""
    folder = identities.folder()
    auditor = identity_files(folder, "auditor", Role.AUDITOR)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = DashboardSettings(
        address=f"127.0.0.1:{port}",
        api=server.address,
        certificate=auditor.certificate,
        key=auditor.key,
        authority=folder / "ca.pem",
        as_of=AS_OF,
    )
    app = create_app(settings)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="off")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()

    def wait_started() -> None:
        while not web.started and thread.is_alive():
            started.wait(0.05)

    waiter = threading.Thread(target=wait_started)
    waiter.start()
    waiter.join(START_TIMEOUT)
    assert web.started, "the dashboard did not start"
    yield RunningDashboard(f"http://127.0.0.1:{port}", settings)
    web.should_exit = True
    thread.join(START_TIMEOUT)
    app.state.dashboard.client.close()
    sock.close()


def chromium_paths() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "Chromium and its driver are missing: run `make browser` (Debian: chromium, chromium-driver)"
        )
    return browser, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root (CI containers)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,2200",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--lang=vi",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    yield chrome
    chrome.quit()
