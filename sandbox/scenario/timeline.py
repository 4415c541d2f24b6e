"""What happened during a scenario, in order: HTTP calls, events, hops, emails, failures.

Every entry has a time, a source lane and a target lane so that reports can draw it as
a sequence diagram; the terminal rendering prints it as one line per entry.  The order
is causal (:func:`causal_order`): times come from different clocks, and an effect is
never drawn before its cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

LANES = ("client", "payment", "provider", "broker", "appointment", "notifier", "smtp", "merchant")

PRODUCER_LANES = {
    "payment-service": "payment",
    "appointment-service": "appointment",
    "notifier-service": "notifier",
}

# the lane of the process consuming each work queue
CONSUMER_LANES = {
    "payment_events": "appointment",
    "appointment_notifications": "notifier",
    "notifier_payment_events": "notifier",
}


@dataclass(frozen=True)
class Entry:
    at: float  # wall-clock seconds
    # http, provider, webhook, event, delivery, retry, dead-letter, email, callback, note,
    # failure
    kind: str
    source: str
    target: str
    label: str
    correlation_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _key(entry: Entry) -> str | None:
    if "key" in entry.detail:
        return str(entry.detail["key"])
    message_id = entry.detail.get("message_id") if entry.kind == "event" else None
    return str(message_id) if message_id else None


def causal_order(entries: Iterable[Entry]) -> list[Entry]:
    """The entries by time, except that an effect never comes before its cause.

    An entry names its cause with ``detail["cause"]`` (the ``key`` of another entry; an
    event's key is its message id).  One whose cause comes later is held back and placed
    right after it; a cause that is not on the timeline constrains nothing.
    """
    ordered = sorted(entries, key=lambda e: e.at)
    keys = {k for k in map(_key, ordered) if k is not None}
    placed: set[str] = set()
    waiting: dict[str, list[Entry]] = {}
    result: list[Entry] = []

    def place(entry: Entry) -> None:
        result.append(entry)
        key = _key(entry)
        if key is not None and key not in placed:
            placed.add(key)
            for effect in waiting.pop(key, []):
                place(effect)

    for entry in ordered:
        cause = entry.detail.get("cause")
        if cause in keys and cause not in placed:
            waiting.setdefault(str(cause), []).append(entry)
        else:
            place(entry)
    # a cycle of causes would leave entries waiting: keep them rather than lose them
    for held in waiting.values():
        result.extend(held)
    return result


class Timeline:
    def __init__(self) -> None:
        self.started = time.time()
        self._entries: list[Entry] = []
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def add_all(self, entries: list[Entry]) -> None:
        with self._lock:
            self._entries.extend(entries)

    def note(self, text: str, *, ok: bool = True, **detail: Any) -> None:
        kind = "note" if ok else "failure"
        self.add(Entry(time.time(), kind, "client", "client", text, detail=detail, ok=ok))

    def entries(self) -> list[Entry]:
        with self._lock:
            return causal_order(self._entries)

    def render_text(self) -> str:
        lines = []
        for e in self.entries():
            mark = " " if e.ok else "!"
            arrow = (
                f"{e.source:>11} -> {e.target:<11}"
                if e.source != e.target
                else f"{e.source:>11}{'':15}"
            )
            lines.append(f"{mark}{e.at - self.started:7.3f}s  {arrow} {e.label}")
        return "\n".join(lines)
