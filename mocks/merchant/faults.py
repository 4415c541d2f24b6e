"""Injected failures and latency, set over the control API and read on every callback."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

FAIL_MODES = ("off", "count", "always")
MAX_DELAY_MS = 30_000


@dataclass(frozen=True)
class FailMode:
    """Answer callbacks with ``status``: the next ``remaining`` ones, or all, or none."""

    mode: str = "off"
    status: int = 500
    remaining: int | None = None


class FaultPolicy:
    """The current fail mode and latency, shared by every request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fail = FailMode()
        self._delay_ms = 0
        self._failed_total = 0

    def set_fail(self, fail: FailMode) -> None:
        """Replace the fail mode."""
        with self._lock:
            self._fail = fail

    def set_delay(self, delay_ms: int) -> None:
        """Delay every callback response by ``delay_ms``."""
        with self._lock:
            self._delay_ms = delay_ms

    def delay_ms(self) -> int:
        """Return the current injected latency."""
        with self._lock:
            return self._delay_ms

    def take_failure(self) -> int | None:
        """Return the status to fail this callback with, or None; counts down ``count`` mode."""
        with self._lock:
            fail = self._fail
            if fail.mode == "off":
                return None
            if fail.mode == "count" and fail.remaining is not None:
                left = fail.remaining - 1
                self._fail = replace(fail, remaining=left, mode="count" if left > 0 else "off")
            self._failed_total += 1
            return fail.status

    def reset(self) -> None:
        """Turn failures and latency off."""
        with self._lock:
            self._fail = FailMode()
            self._delay_ms = 0

    def describe(self) -> dict[str, Any]:
        """Return the fail mode and latency as JSON-ready data."""
        with self._lock:
            return {
                "fail": {**asdict(self._fail), "failed_total": self._failed_total},
                "latency": {"delay_ms": self._delay_ms},
            }
