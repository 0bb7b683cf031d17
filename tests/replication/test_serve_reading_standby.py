"""``lienthong serve`` as a real process with ``LIENTHONG_READ_DATABASE_URL`` naming
the standby: it starts, answers from the standby's log, and a malformed URL is a
configuration error naming the setting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import grpc
from lienthong.v1 import plan_service_pb2, plan_service_pb2_grpc

from services.app.importer import import_plans
from services.app.ledger import Ledger
from services.store.database import (
    DATABASE_URL_ENV,
    READ_DATABASE_URL_ENV,
    Database,
    database_url,
)
from tests.conftest import PLANS, REGISTRY, ROOT
from tests.replication.conftest import DEADLINE, Pair

LISTENING = re.compile(r"gRPC API on (\S+)")


def serve(write_url: str, read_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--plaintext", "--address", "127.0.0.1:0"],
        cwd=ROOT,
        env={
            **os.environ,
            DATABASE_URL_ENV: write_url,
            READ_DATABASE_URL_ENV: read_url,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_with_a_read_url_answers_from_the_standby(pair: Pair, primary_app: Ledger) -> None:
    import_plans(primary_app, PLANS, REGISTRY)
    server = serve(database_url(pair.written), database_url(pair.read))
    try:
        assert server.stdout is not None
        found = LISTENING.search(server.stdout.readline())
        assert found, server.communicate(timeout=DEADLINE)[1]
        with grpc.insecure_channel(found[1]) as channel:
            plans = plan_service_pb2_grpc.PlanServiceStub(channel)
            answer = plans.ListPlans(plan_service_pb2.ListPlansRequest(), timeout=DEADLINE)
        assert len(answer.plans) == len(PLANS)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=DEADLINE)
    assert server.returncode == 0


def test_a_malformed_read_url_is_a_configuration_error_naming_the_setting(
    database: Database,
) -> None:
    server = serve(database_url(database), "mysql://nowhere/lienthong")
    _, err = server.communicate(timeout=DEADLINE)
    assert server.returncode == 2
    assert f"CONFIGURATION: {READ_DATABASE_URL_ENV} must start with postgresql://" in err
