"""Wait for a condition with a deadline instead of sleeping.

``wait_for`` polls a probe until it returns something truthy and returns that value; on
timeout it raises ``WaitTimeout`` saying what was awaited and what the probe last saw,
so a failing test or scenario explains itself.  ``hold_for`` is the opposite: it watches
a probe for a whole window and fails, with what the probe returned, if it ever fires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The awaited condition did not hold before the deadline."""


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    seen: Callable[[], object] | None = None,
) -> T:
    """Return the first truthy result of ``probe`` or raise WaitTimeout after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
            last_error = None
        except Exception as exc:  # a probe may fail while the thing it watches comes up
            result = None
            last_error = exc
        if result:
            return result
        last = result
        if time.monotonic() >= deadline:
            observed = seen() if seen is not None else last
            detail = f"; last error: {last_error!r}" if last_error is not None else ""
            raise WaitTimeout(
                f"timed out after {timeout:g} s waiting for {what}; last seen: {observed!r}{detail}"
            )
        time.sleep(interval)


class Unexpected(AssertionError):
    """Something that must not happen did, within the window it was watched for."""


def hold_for(
    probe: Callable[[], T | None], *, within: float, what: str, interval: float = 0.05
) -> None:
    """Watch ``probe`` for ``within`` seconds; raise Unexpected, with what it returned, as
    soon as it returns something truthy.  Returns after the whole window otherwise."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            raise Unexpected(f"expected no {what} within {within:g} s; arrived: {found!r}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(interval, remaining))
