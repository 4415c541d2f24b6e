"""Stripe's idempotency keys: replay the first response, refuse different parameters.

A key is scoped to the API key that sent it.  The first request with a key that gets
past parameter checks reserves it; when it finishes, its status and body are stored and
every later request with the same key and the same method, path and parameters gets
them back (with ``Idempotent-Replayed: true``).  Different parameters are an
``idempotency_error``; a second request while the first still runs is a 409.  Keys
expire ``ttl_s`` after first use, measured on the provider's movable clock.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from mocks.provider.clock import Clock
from mocks.provider.errors import StripeError


@dataclass
class Record:
    fingerprint: str
    created: float
    request_id: str
    status: int | None = None
    body: bytes | None = None


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    return json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))


class IdempotencyCache:
    """Stored responses by ``(api key, idempotency key)``."""

    def __init__(self, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._records: dict[tuple[str, str], Record] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def begin(self, scope: tuple[str, str], print_: str, request_id: str) -> Record | None:
        """Reserve the key and return None, or return the finished record to replay."""
        now = self._clock.now()
        with self._lock:
            record = self._records.get(scope)
            if record is not None and now - record.created > self._ttl_s:
                record = None
            if record is None:
                self._purge(now)
                self._records[scope] = Record(print_, now, request_id)
                return None
        if record.fingerprint != print_:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{scope[1]}' if you meant "
                "to execute a different request.",
                type="idempotency_error",
                code="idempotency_key_in_use",
                param="Idempotency-Key",
            )
        if record.status is None:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(probably a retry). Please retry later.",
                type="idempotency_error",
                code="idempotency_key_in_use",
                param="Idempotency-Key",
            )
        return record

    def finish(self, scope: tuple[str, str], status: int, body: bytes) -> None:
        with self._lock:
            record = self._records.get(scope)
            if record is not None:
                record.status, record.body = status, body

    def abandon(self, scope: tuple[str, str]) -> None:
        """Forget a reservation whose request never ran (so a retry may run it)."""
        with self._lock:
            record = self._records.get(scope)
            if record is not None and record.status is None:
                del self._records[scope]

    def _purge(self, now: float) -> None:
        # cheap amortised cleanup: only when the table has grown
        if len(self._records) < 10_000 or len(self._records) % 1000:
            return
        expired = [k for k, r in self._records.items() if now - r.created > self._ttl_s]
        for key in expired:
            del self._records[key]
