"""What happened during a scenario, in order: HTTP calls, events, hops, emails, failures.

Every entry has a time, a source lane and a target lane so that reports can draw it as
a sequence diagram; the terminal rendering prints it as one line per entry.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

LANES = ("client", "payment", "provider", "broker", "appointment", "notifier", "smtp", "merchant")

PRODUCER_LANES = {
    "payment-service": "payment",
    "appointment-service": "appointment",
    "notifier-service": "notifier",
}


@dataclass(frozen=True)
class Entry:
    at: float  # wall-clock seconds
    kind: str  # http, event, retry, dead-letter, email, callback, note, failure
    source: str
    target: str
    label: str
    correlation_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
            return sorted(self._entries, key=lambda e: e.at)

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
