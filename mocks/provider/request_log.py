"""The provider's record of the Stripe API calls it answered, for reports to draw.

Kept in memory, newest last and bounded (the oldest are forgotten first), read through
``GET /_control/requests``.  Each call is stored with the id and metadata of the object
it answered with, so that a scenario can find the calls made for its own payments.
Times are real time, not the provider's clock, like the rest of a scenario's timeline.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

MAX_RECORDS = 10_000


class RequestLog:
    """The last ``MAX_RECORDS`` ``/v1`` calls, oldest first."""

    def __init__(self, size: int = MAX_RECORDS) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(
        self,
        *,
        began: float,
        method: str,
        path: str,
        status: int,
        body: bytes,
        idempotency_key: str | None,
    ) -> None:
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        obj = answer if isinstance(answer, dict) else {}
        metadata = obj.get("metadata")
        entry = {
            "at": round(began, 4),
            "duration_ms": round((time.time() - began) * 1000, 2),
            "method": method,
            "path": path,
            "status": status,
            "idempotency_key": idempotency_key,
            "object_id": obj.get("id") if isinstance(obj.get("id"), str) else None,
            "metadata": metadata if isinstance(metadata, dict) else {},
        }
        with self._lock:
            self._records.append(entry)

    def records(self, limit: int = MAX_RECORDS) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)[-limit:]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
