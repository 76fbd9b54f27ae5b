"""The one clock: timezone-aware UTC, so records written anywhere compare and sort alike."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)
