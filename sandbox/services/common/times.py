"""Times as the services store and write them: aware UTC, RFC 3339 with milliseconds and Z.

SQLite hands back naive datetimes; the services write UTC, so a naive time read back
is UTC (``utc``).  Events, API bodies and the audit log write times one way (``iso``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utc_now() -> datetime:
    return datetime.now(UTC)


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC (a naive one was written in UTC)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
def iso(moment: datetime | None) -> str | None:
    """``2025-06-01T10:00:00.000Z``; None stays None."""
    if moment is None:
        return None
    return utc(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
