"""Time as the wards live it. A ward's day is Vietnam time (Asia/Ho_Chi_Minh, UTC+7
all year): a report made at 06:30 on 2 March in Phước Bình is a report of 2 March,
though it is still 1 March in UTC.

The domain reads no clock itself: whoever acts passes the moment in (a
:data:`Clock` is how the services read one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

WARD_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
Clock = Callable[[], dt.datetime]  # the moment now, time zone aware


def ward_day(moment: dt.datetime) -> dt.date:
    """The ward's calendar day at ``moment`` (an aware datetime)."""
    return moment.astimezone(WARD_TIME).date()
