"""Where each process serves its metrics, and how its log lines read."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from services.logs import FORMAT_ENV, JsonFormatter, logging_config, submission_log
from services.metrics import ADDRESS_ENV, metrics_address
from services.store.database import ConfigurationError


@pytest.mark.parametrize(
    ("setting", "process", "address"),
    [
        (None, "serve", ("127.0.0.1", 9460)),
        (None, "checkpointer", ("127.0.0.1", 9463)),
        ("10.0.0.5:9000", "relay", ("10.0.0.5", 9002)),
        ("[::1]:9000", "ingest-worker", ("::1", 9001)),
        ("127.0.0.1:0", "relay", ("127.0.0.1", 0)),  # a free port each
        ("off", "serve", None),
    ],
)
def test_each_process_has_its_own_port_from_one_setting(
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    process: str,
    address: tuple[str, int] | None,
) -> None:
    if setting is None:
        monkeypatch.delenv(ADDRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(ADDRESS_ENV, setting)
    assert metrics_address(process) == address


@pytest.mark.parametrize("setting", ["9460", "localhost:http", "127.0.0.1:65534"])
def test_a_bad_metrics_address_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(ADDRESS_ENV, setting)
    with pytest.raises(ConfigurationError, match=ADDRESS_ENV):
        metrics_address("serve")


def record(**extra: object) -> logging.LogRecord:
    logger = logging.getLogger("services.kafka.worker")
    line = logging.LogRecord(logger.name, logging.INFO, __file__, 1, "submission %s", ("x",), None)
    line.__dict__.update(extra)
    return line


def boom() -> None:
    raise ValueError("boom")


def test_a_json_line_has_time_level_logger_message_and_its_context() -> None:
    try:
        boom()
    except ValueError:
        failed = record(event_id="e-1", subject="pb/task/24")
        failed.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(failed))
    assert line["level"] == "INFO"
    assert line["logger"] == "services.kafka.worker"
    assert line["message"] == "submission x"
    assert (line["event_id"], line["subject"]) == ("e-1", "pb/task/24")
    assert "ValueError: boom" in line["exception"]
    assert line["time"].endswith("+00:00")


def test_a_submission_log_names_the_submission_on_every_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.submission")
    with caplog.at_level(logging.INFO, logger.name):
        about = submission_log(logger, "e-2", "pb/task/28", outcome="rejected")
        about.info("one")
        about.warning("two", extra={"reason": "NOT_LEAD_UNIT"})
    assert [(r.event_id, r.subject, r.outcome) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("e-2", "pb/task/28", "rejected"),
        ("e-2", "pb/task/28", "rejected"),
    ]
    assert caplog.records[1].reason == "NOT_LEAD_UNIT"  # type: ignore[attr-defined]


def test_text_lines_for_development_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORMAT_ENV, "text")
    formatter = logging_config(logging.INFO)["formatters"]["lienthong"]["()"]()
    assert formatter.format(record(event_id="e-3")).endswith("submission x event_id=e-3")
    monkeypatch.setenv(FORMAT_ENV, "xml")
    with pytest.raises(ConfigurationError, match=FORMAT_ENV):
        logging_config(logging.INFO)
