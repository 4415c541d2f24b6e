"""A wall clock that tests can move.

Everything the provider stamps with a time reads this clock: objects' ``created``,
events, webhook signature timestamps and idempotency-key expiry.  Scheduling (retry
backoff, injected latency) uses real monotonic time instead, so moving the clock never
makes a pending retry fire early or a hang end sooner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """Real time plus an offset that :meth:`advance` and :meth:`set` change."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current (possibly moved) time in Unix seconds."""
        return self._source() + self._offset

    def timestamp(self) -> int:
        """Return the current time as whole Unix seconds, as Stripe's objects carry it."""
        return int(self.now())

    @property
    def offset_s(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock by ``seconds`` (negative moves it back); return the new time."""
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, unix_seconds: float) -> float:
        """Make the clock read ``unix_seconds`` now and keep ticking from there."""
        with self._lock:
            self._offset = unix_seconds - self._source()
        return self.now()

    def reset(self) -> None:
        """Go back to real time."""
        with self._lock:
            self._offset = 0.0

    def snapshot(self) -> dict[str, float]:
        return {"now": self.now(), "offset_s": self._offset}
