"""Thread-safe in-memory inbox: the SMTP thread writes, HTTP request threads read."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from mocks.smtp.message import CapturedMessage


@dataclass(frozen=True)
class MessageFilter:
    """What a list request asks for; every given criterion must match."""

    to: str | None = None
    sender: str | None = None
    subject: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def matches(self, msg: CapturedMessage) -> bool:
        """Return True when ``msg`` meets every criterion."""
        if self.to is not None:
            wanted = self.to.lower()
            if not any(wanted in rcpt.lower() for rcpt in msg.rcpt_tos):
                return False
        if self.sender is not None and self.sender.lower() not in msg.mail_from.lower():
            return False
        if self.subject is not None and self.subject.lower() not in msg.subject.lower():
            return False
        return all(value in msg.header_values(name) for name, value in self.headers)


class MessageStore:
    """Captured messages in arrival order, capped by dropping the oldest."""

    def __init__(self, max_messages: int = 0) -> None:
        self._max = max_messages
        self._lock = threading.Lock()
        self._messages: OrderedDict[str, CapturedMessage] = OrderedDict()
        self._received = 0
        self._dropped = 0

    def add(self, msg: CapturedMessage) -> None:
        """Keep ``msg``, dropping the oldest message when the cap is reached."""
        with self._lock:
            self._messages[msg.id] = msg
            self._received += 1
            while self._max and len(self._messages) > self._max:
                self._messages.popitem(last=False)
                self._dropped += 1

    def list(self, where: MessageFilter | None = None) -> list[CapturedMessage]:
        """Return the matching messages, oldest first."""
        with self._lock:
            messages = list(self._messages.values())
        return [m for m in messages if where is None or where.matches(m)]

    def get(self, message_id: str) -> CapturedMessage | None:
        """Return one message by id, or None."""
        with self._lock:
            return self._messages.get(message_id)

    def delete(self, message_id: str) -> bool:
        """Delete one message; return whether it existed."""
        with self._lock:
            return self._messages.pop(message_id, None) is not None

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            return count

    def stats(self) -> dict[str, int]:
        """Return counts for the health endpoint."""
        with self._lock:
            return {
                "stored": len(self._messages),
                "received_total": self._received,
                "dropped_total": self._dropped,
                "max_messages": self._max,
            }
