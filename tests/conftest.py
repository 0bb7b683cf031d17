"""Fixtures shared by the integration tests: a real PostgreSQL, one database per test.

``configured`` also names the test's database in ``LIENTHONG_DATABASE_URL``, as an
operator would, for the command line.

The server is the embedded PostgreSQL (started once per test run in a temporary
directory) unless ``LIENTHONG_DATABASE_URL`` names an external server, whose user must
be allowed to create databases.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from services.app.ledger import Ledger
from services.metrics import ADDRESS_ENV
from services.store.database import (
    DATABASE_URL_ENV,
    Database,
    embedded_server,
    ensure_database,
    parse_database_url,
)

# The processes the tests start (several at once, beside other runs) each pick a free
# port for their metrics, and log which.
os.environ.setdefault(ADDRESS_ENV, "127.0.0.1:0")
ROOT = Path(__file__).resolve().parent.parent
PLANS = sorted((ROOT / "data" / "plans").glob("*.yaml"))
REGISTRY = ROOT / "data" / "agencies.yaml"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Database]:
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        yield parse_database_url(url)
        return
    # Not under pytest's tmp_path: pytest deletes old runs' folders when another run
    # starts, and PostgreSQL shuts down when its data directory disappears.
    with (
        tempfile.TemporaryDirectory(prefix="lienthong-test-pg-") as folder,
        embedded_server(Path(folder)) as database,
    ):
        yield database


@pytest.fixture
def database(postgres: Database) -> Iterator[Database]:
    """A fresh database of its own for one test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield ensure_database(postgres, name)
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def app(database: Database) -> Iterator[Ledger]:
    application = Ledger(env=database.eventsourcing_env())
    yield application
    application.close()


@pytest.fixture
def configured(database: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    credentials = f"{database.user}:{database.password}"
    url = f"postgresql://{credentials}@{database.host}:{database.port}/{database.dbname}"
    if database.host.startswith("/"):  # a Unix socket directory (the embedded server)
        url = f"postgresql://{credentials}@/{database.dbname}?host={database.host}"
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    return database
