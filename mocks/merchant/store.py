"""Thread-safe record of every callback attempt, with duplicate detection by key."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

OUTCOMES = ("accepted", "duplicate", "rejected", "failed")


@dataclass(frozen=True)
class CallbackRecord:
    """One attempt as the merchant saw it and what it answered."""

    received_at: datetime
    outcome: str
    status: int
    reason: str | None
    message: str | None
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    raw_body: str
    body: Any = None
    payment_id: str | None = None
    event_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None
    signature_valid: bool = False
    signature_timestamp: int | None = None
    delay_ms: int = 0
    duplicate_of: int | None = None
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the JSON shape served by GET /callbacks."""
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "outcome": self.outcome,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "method": self.method,
            "path": self.path,
            "payment_id": self.payment_id,
            "event_id": self.event_id,
            "correlation_id": self.correlation_id,
            "idempotency_key": self.idempotency_key,
            "signature_valid": self.signature_valid,
            "signature_timestamp": self.signature_timestamp,
            "delay_ms": self.delay_ms,
            "duplicate_of": self.duplicate_of,
            "headers": dict(self.headers),
            "body": self.body,
            "raw_body": self.raw_body,
        }


@dataclass(frozen=True)
class RecordFilter:
    """What a list request asks for; every given criterion must match exactly."""

    payment_id: str | None = None
    correlation_id: str | None = None
    outcome: str | None = None
    idempotency_key: str | None = None

    def matches(self, record: CallbackRecord) -> bool:
        """Return True when ``record`` meets every criterion."""
        return all(
            wanted is None or wanted == getattr(record, name)
            for name, wanted in (
                ("payment_id", self.payment_id),
                ("correlation_id", self.correlation_id),
                ("outcome", self.outcome),
                ("idempotency_key", self.idempotency_key),
            )
        )


class CallbackStore:
    """Attempts in arrival order (capped by dropping the oldest) and the keys accepted so far."""

    def __init__(self, max_records: int = 0) -> None:
        self._lock = threading.Lock()
        self._records: deque[CallbackRecord] = deque(maxlen=max_records or None)
        self._accepted_keys: dict[str, int] = {}
        self._next_id = 1
        self._totals: Counter[str] = Counter()

    def add(self, draft: CallbackRecord) -> CallbackRecord:
        """Record an attempt; an accepted one whose key was accepted before becomes a duplicate."""
        with self._lock:
            record = replace(draft, id=self._next_id)
            self._next_id += 1
            key = record.idempotency_key
            if record.outcome == "accepted" and key is not None:
                first = self._accepted_keys.setdefault(key, record.id)
                if first != record.id:
                    record = replace(record, outcome="duplicate", duplicate_of=first)
            self._records.append(record)
            self._totals[record.outcome] += 1
            return record

    def list(self, where: RecordFilter | None = None) -> list[CallbackRecord]:
        """Return the matching attempts, oldest first."""
        with self._lock:
            records = list(self._records)
        return [r for r in records if where is None or where.matches(r)]

    def get(self, record_id: int) -> CallbackRecord | None:
        """Return one attempt by id, or None."""
        with self._lock:
            return next((r for r in self._records if r.id == record_id), None)

    def clear(self) -> int:
        """Forget every attempt and accepted key; return how many attempts there were."""
        with self._lock:
            count = len(self._records)
            self._records.clear()
            self._accepted_keys.clear()
            self._totals.clear()
            return count

    def totals(self) -> dict[str, int]:
        """Return attempt counts per outcome since the last clear."""
        with self._lock:
            counts = {outcome: self._totals[outcome] for outcome in OUTCOMES}
            return {"total": sum(counts.values()), **counts}


def summarize(records: list[CallbackRecord]) -> dict[str, Any]:
    """Count outcomes per payment id (``null`` payments under the key ``""``)."""
    payments: dict[str, dict[str, int]] = {}
    for record in records:
        counts = payments.setdefault(record.payment_id or "", dict.fromkeys(OUTCOMES, 0))
        counts[record.outcome] += 1
    totals = dict.fromkeys(OUTCOMES, 0)
    for counts in payments.values():
        for outcome, n in counts.items():
            totals[outcome] += n
    return {"payments": payments, "totals": totals}
