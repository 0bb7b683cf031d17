"""The system clock, as the use cases read it: the moment now, and the ward's day."""

from __future__ import annotations

import datetime as dt

from domain.clock import ward_day


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ward_today() -> dt.date:
    """Today in the wards (Vietnam time), not in UTC."""
    return ward_day(utc_now())
