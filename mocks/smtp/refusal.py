"""Refuse mode: makes the listener answer MAIL, RCPT or DATA with a 4xx/5xx reply.

The stage decides what ``smtplib`` raises: ``mail`` gives SMTPSenderRefused and ``data``
gives SMTPDataError (both SMTPResponseException), while ``rcpt`` gives
SMTPRecipientsRefused, which smtplib does not derive from SMTPResponseException.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

STAGES = ("mail", "rcpt", "data")
DEFAULT_CODE = 451
DEFAULT_MESSAGE = "4.3.0 Mock SMTP refuse mode is on"


@dataclass(frozen=True)
class RefuseMode:
    """What to refuse, with which reply, and how many more times (None: until turned off)."""

    enabled: bool = False
    code: int = DEFAULT_CODE
    message: str = DEFAULT_MESSAGE
    stage: str = "data"
    remaining: int | None = None


class RefusePolicy:
    """The current refuse mode, shared by the SMTP thread and the HTTP threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode = RefuseMode()
        self._refused_total = 0

    def set(self, mode: RefuseMode) -> None:
        """Replace the current mode."""
        with self._lock:
            self._mode = mode

    def take(self, stage: str) -> str | None:
        """Return the reply line to refuse ``stage`` with, or None to let it through."""
        with self._lock:
            mode = self._mode
            if not mode.enabled or mode.stage != stage:
                return None
            if mode.remaining is not None:
                left = mode.remaining - 1
                # Turning itself off after the last refusal is what "refuse N times" means.
                self._mode = replace(mode, remaining=left, enabled=left > 0)
            self._refused_total += 1
            return f"{mode.code} {mode.message}"

    def describe(self) -> dict[str, Any]:
        """Return the mode as JSON-ready data."""
        with self._lock:
            return {**asdict(self._mode), "refused_total": self._refused_total}
