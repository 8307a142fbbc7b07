"""Timestamps on the wire: Go's ``time.Time.String()`` style in UTC, whole seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import lru_cache

_FILTER = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")


@lru_cache(maxsize=8192)
def format_time(epoch: int) -> str:
    """``2024-01-03 13:35:51 +0000 UTC``."""
    return "%04d-%02d-%02d %02d:%02d:%02d +0000 UTC" % time.gmtime(epoch)[:6]


def parse_filter_time(text: str) -> tuple[float, float] | None:
    """A list filter time ``YYYY-MM-DD HH:MM[:ss[.uuuuuu]]`` (UTC) as (start, width) in seconds.

    The width is the precision the value was given with, so that an exact-value filter matches
    every timestamp that displays as the given value. None if the text is not such a time.
    """
    match = _FILTER.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    start = moment.timestamp()
    if fraction is not None:
        return start + int(fraction.ljust(6, "0")) / 1e6, 1e-6
    return start, 1.0 if second is not None else 60.0
