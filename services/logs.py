"""Logging, configured in one place: JSON lines, or plain text for development.

Every process (``lienthong serve``, ``ingest-worker``, ``relay``, ``checkpointer``, and
the supervisor of ``lienthong run``) logs to standard error, one JSON object a line:
``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``exception`` when there
is one, and whatever the line's ``extra`` adds. A line about a submission carries its
``event_id`` and ``subject`` (:func:`submission_log`), and its ``outcome`` and
``reason`` when it has one.

Setting: ``LIENTHONG_LOG_FORMAT`` — ``json`` (default) or ``text`` (readable lines,
the extra fields appended as ``key=value``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
from collections.abc import Mapping
from typing import Any

from services.store.database import ConfigurationError

FORMAT_ENV = "LIENTHONG_LOG_FORMAT"
FORMATS = ("json", "text")
# The attributes every LogRecord has: the rest came from ``extra``.
STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **extra_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value…`` (development)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        return f"{line} {fields}" if fields else line


def log_format() -> str:
    value = os.environ.get(FORMAT_ENV, "json").strip().lower() or "json"
    if value not in FORMATS:
        msg = f"{FORMAT_ENV} is {value!r}: one of {', '.join(FORMATS)}"
        raise ConfigurationError(msg)
    return value


def logging_config(level: int | str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a process (faust's worker takes it too)."""
    formatter = JsonFormatter if log_format() == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lienthong": {"()": formatter}},
        "handlers": {
            # the process's own standard error, never a stand-in put in sys.stderr
            # (faust's worker logs what is printed there; a test captures it)
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "lienthong",
                "stream": "ext://sys.__stderr__",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # kafka-python's connection chatter: its warnings are enough
        "loggers": {"kafka": {"level": "WARNING"}},
    }


def setup_logging(level: int | str) -> None:
    logging.config.dictConfig(logging_config(level))


class SubmissionLog(logging.LoggerAdapter[logging.Logger]):
    """A logger whose every line names one submission (``event_id``, ``subject``)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def submission_log(
    logger: logging.Logger, event_id: str, subject: str, **fields: Any
) -> SubmissionLog:
    """``logger``, each line of it carrying ``event_id``, ``subject`` and ``fields``."""
    extra: Mapping[str, object] = {"event_id": event_id, "subject": subject, **fields}
    return SubmissionLog(logger, extra)


def log_verdict(
    logger: logging.Logger, event_id: str, subject: str, outcome: str, reason: str, **fields: Any
) -> None:
    """The line of a submission's verdict (``outcome``, ``reason`` when rejected)."""
    submission_log(logger, event_id, subject, outcome=outcome, reason=reason, **fields).info(
        "submission %s%s", outcome, f" ({reason})" if reason else ""
    )
