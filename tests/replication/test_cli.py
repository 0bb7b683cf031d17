"""``lienthong db standby|promote|stop|start`` on a real primary: a standby that
streams, that the primary's commits wait for (a row committed on the primary is on the
standby when the commit returns), promoted to take writes, stopped and started again
where it listened."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.cli import EXIT_BAD_INPUT, main
from services.store.database import database_url, parse_database_url
from services.store.replication import Instance


@pytest.fixture
def primary() -> Iterator[tuple[Instance, Path]]:
    with tempfile.TemporaryDirectory(prefix="lienthong-repl-", ignore_cleanup_errors=True) as name:
        folder = Path(name)
        instance = Instance(folder / "primary")
        instance.init()
        instance.start()
        try:
            yield instance, folder
        finally:
            for data in (folder / "standby", instance.data):
                if Instance(data).pid() is not None:
                    Instance(data).stop("immediate")


def one(conninfo: str, query: str) -> object:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_db_standby_makes_a_synchronous_hot_standby_that_db_promote_makes_the_primary(
    primary: tuple[Instance, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, folder = primary
    written = server.database().conninfo()
    source = database_url(server.database())
    data = folder / "standby"
    code = main(["db", "standby", "--from", source, "--data", str(data), "--name", "cli_standby"])
    out, err = capsys.readouterr()
    assert code == 0, err
    standby = parse_database_url(out.strip()).conninfo()
    assert one(standby, "SELECT pg_is_in_recovery()") is True
    assert one(written, "SHOW synchronous_standby_names") == 'FIRST 1 ("cli_standby")'
    assert one(written, "SHOW synchronous_commit") == "remote_apply"
    with psycopg.connect(written, autocommit=True) as conn:
        conn.execute("CREATE TABLE acknowledged AS SELECT 42 AS answer")
    # remote_apply: the commit returned once the standby had applied it — no waiting
    assert one(standby, "SELECT answer FROM acknowledged") == 42

    again = main(["db", "standby", "--from", source, "--data", str(data)])
    assert again == EXIT_BAD_INPUT
    assert "holds a PostgreSQL cluster already" in capsys.readouterr().err

    code = main(["db", "promote", "--data", str(data), "--dbname", "postgres"])
    out, err = capsys.readouterr()
    assert code == 0, err
    promoted = parse_database_url(out.strip()).conninfo()
    assert one(promoted, "SELECT pg_is_in_recovery()") is False
    assert one(promoted, "SHOW synchronous_standby_names") == ""
    with psycopg.connect(promoted, autocommit=True) as conn:
        conn.execute("INSERT INTO acknowledged VALUES (43)")  # it takes writes, alone

    assert main(["db", "stop", "--data", str(data)]) == 0
    assert Instance(data).pid() is None
    assert main(["db", "start", "--data", str(data)]) == 0  # where it was made to listen
    assert one(promoted, "SELECT count(*) FROM acknowledged") == 2
