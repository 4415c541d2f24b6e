"""Signed webhook delivery: a background thread, retries with exponential backoff.

Each (event, endpoint) pair becomes a :class:`Delivery`, scheduled on a heap by
monotonic due time: ``webhook_latency_s`` after its event (``PROVIDER_WEBHOOK_LATENCY_S``,
0 by default; the sandbox sets 0.2 s, so that, as with Stripe, a webhook seldom arrives
before the API answer that caused it), plus any injected delay.  One worker thread sends
them in due order, so with no faults an endpoint receives events in the order they
happened.  The body is signed when it is sent, with the provider's (movable) clock as
the timestamp: ``Stripe-Signature:
t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<body>")>``.  A non-2xx answer or a network error
is retried after ``base * 2**(attempt-1)`` seconds (capped) until ``max_attempts``.
The thread is started by whoever owns the app (``main()`` or a test fixture), never at
import or by the factory.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from mocks.provider import webhook_faults
from mocks.provider.clock import Clock
from mocks.provider.settings import ProviderSettings
from mocks.provider.store import Obj
from sandbox.signing import sign

log = logging.getLogger(__name__)

PENDING = ("scheduled", "held", "retrying", "delivering")
MAX_KEPT = 50_000


@dataclass(frozen=True)
class Target:
    endpoint_id: str
    url: str
    secret: str


@dataclass
class Attempt:
    at: float
    signed_at: int
    status: int | None
    error: str | None
    duration_ms: float
    sequence: int


@dataclass
class Delivery:
    id: str
    event_id: str
    event_type: str
    target: Target
    payload: bytes
    copy: int
    created: float
    status: str = "scheduled"
    due: float = 0.0
    version: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "endpoint_id": self.target.endpoint_id,
            "url": self.target.url,
            "copy": self.copy,
            "status": self.status,
            "created": self.created,
            "faults": self.faults,
            "next_attempt_in_s": (
                round(max(self.due - time.monotonic(), 0.0), 3)
                if self.status in ("scheduled", "held", "retrying")
                else None
            ),
            "attempts": [vars(a) for a in self.attempts],
            **self._object(),
        }

    def _object(self) -> dict[str, Any]:
        """The id and metadata of the event's object, so that a delivery can be traced
        to the payment it is about (a scenario's report draws its flow's deliveries)."""
        try:
            obj = json.loads(self.payload)["data"]["object"]
        except (ValueError, KeyError, TypeError):
            return {"object_id": None, "metadata": {}}
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        return {
            "object_id": obj.get("id") if isinstance(obj, dict) else None,
            "metadata": metadata if isinstance(metadata, dict) else {},
        }


class WebhookDispatcher:
    """Schedules, signs and sends webhook deliveries on one background thread."""

    def __init__(self, settings: ProviderSettings, clock: Clock, seed: int) -> None:
        self._settings = settings
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str, int]] = []
        self._order = itertools.count()
        self._sent = itertools.count(1)
        self._ids = itertools.count(1)
        self._deliveries: dict[str, Delivery] = {}
        self._held: dict[str, Delivery] = {}
        self._faults = webhook_faults.WebhookFaults()
        self._rng = random.Random(f"{seed}:webhooks")
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._session: requests.Session | None = None

    # -- configuration -------------------------------------------------------------

    @property
    def faults(self) -> webhook_faults.WebhookFaults:
        return self._faults

    def set_faults(self, faults: webhook_faults.WebhookFaults) -> None:
        with self._cond:
            self._faults = faults

    def reseed(self, seed: int) -> None:
        with self._cond:
            self._rng.seed(f"{seed}:webhooks")

    def reset(self, seed: int) -> None:
        """Drop every delivery, pending or done, and every fault."""
        with self._cond:
            self._heap.clear()
            self._deliveries.clear()
            self._held.clear()
            self._faults = webhook_faults.WebhookFaults()
            self._rng.seed(f"{seed}:webhooks")
            self._cond.notify_all()

    # -- scheduling ----------------------------------------------------------------

    def enqueue(self, event: Obj, targets: list[Target]) -> None:
        """Plan the deliveries of ``event`` to ``targets`` (called in event order)."""
        payload = json.dumps(event, indent=2).encode()
        # the configured latency: as at Stripe, a webhook can then trail the API answer
        # that caused the event instead of racing it
        earliest = time.monotonic() + self._settings.webhook_latency_s
        with self._cond:
            for target in targets:
                plan = webhook_faults.draw(self._faults, self._rng)
                original = self._new(event, target, payload, 0)
                if plan.lost:
                    original.status = "lost"
                    original.faults.append("lost")
                    continue
                due = earliest + plan.delay_s
                if plan.delay_s:
                    original.faults.append(f"delayed {plan.delay_s * 1000:.0f} ms")
                held = self._held.pop(target.endpoint_id, None)
                if plan.hold and held is None:
                    original.status = "held"
                    original.faults.append("reordered")
                    self._held[target.endpoint_id] = original
                    self._push(original, due + self._faults.reorder.hold_ms / 1000)
                else:
                    self._push(original, due)
                    if held is not None:
                        # release the held delivery right after this later one
                        held.status = "scheduled"
                        self._push(held, max(due, earliest))
                for copy_no in range(1, plan.copies + 1):
                    duplicate = self._new(event, target, payload, copy_no)
                    duplicate.faults.append("duplicate")
                    self._push(duplicate, due)
            self._cond.notify_all()

    def cancel_endpoint(self, endpoint_id: str) -> None:
        """Stop delivering to an endpoint that was deleted."""
        with self._cond:
            for delivery in self._deliveries.values():
                if delivery.target.endpoint_id == endpoint_id and delivery.status in PENDING:
                    delivery.status = "canceled"
            self._held.pop(endpoint_id, None)

    def _new(self, event: Obj, target: Target, payload: bytes, copy_no: int) -> Delivery:
        delivery = Delivery(
            id=f"dlv_{next(self._ids)}",
            event_id=event["id"],
            event_type=event["type"],
            target=target,
            payload=payload,
            copy=copy_no,
            created=self._clock.now(),
        )
        self._deliveries[delivery.id] = delivery
        if len(self._deliveries) > MAX_KEPT:
            self._forget_oldest()
        return delivery

    def _forget_oldest(self) -> None:
        for key, delivery in list(self._deliveries.items())[: MAX_KEPT // 10]:
            if delivery.status not in PENDING:
                del self._deliveries[key]

    def _push(self, delivery: Delivery, due: float) -> None:
        delivery.version += 1
        delivery.due = due
        heapq.heappush(self._heap, (due, next(self._order), delivery.id, delivery.version))

    # -- the worker ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # no proxy lookup in the environment per delivery
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def _run(self) -> None:
        while True:
            delivery = self._next_due()
            if delivery is None:
                return
            try:
                self._attempt(delivery)
            except Exception:  # keep the worker alive whatever one delivery does
                log.exception("webhook delivery %s crashed", delivery.id)

    def _next_due(self) -> Delivery | None:
        with self._cond:
            while not self._stopping:
                if self._heap:
                    due, _, delivery_id, version = self._heap[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        delivery = self._deliveries.get(delivery_id)
                        if delivery is None or delivery.version != version:
                            continue
                        if delivery.status not in ("scheduled", "held", "retrying"):
                            continue
                        if self._held.get(delivery.target.endpoint_id) is delivery:
                            del self._held[delivery.target.endpoint_id]
                        delivery.status = "delivering"
                        return delivery
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _attempt(self, delivery: Delivery) -> None:
        timestamp = self._clock.timestamp()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(delivery.target.secret, delivery.payload, timestamp),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        session = self._session
        try:
            if session is None:
                raise requests.ConnectionError("the webhook dispatcher is stopped")
            response = session.post(
                delivery.target.url,
                data=delivery.payload,
                headers=headers,
                timeout=self._settings.webhook_timeout_s,
            )
            status = response.status_code
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed_ms = (time.monotonic() - started) * 1000
        ok = status is not None and 200 <= status < 300
        with self._cond:
            delivery.attempts.append(
                Attempt(
                    round(self._clock.now() - elapsed_ms / 1000, 4),
                    timestamp,
                    status,
                    error,
                    round(elapsed_ms, 2),
                    next(self._sent),
                )
            )
            if delivery.status != "delivering":
                return  # canceled or reset meanwhile
            if ok:
                delivery.status = "delivered"
            elif len(delivery.attempts) >= self._settings.webhook_max_attempts:
                delivery.status = "failed"
                log.warning(
                    "webhook %s to %s failed for good", delivery.event_id, delivery.target.url
                )
            else:
                delivery.status = "retrying"
                backoff = self._settings.webhook_retry_base_s * 2 ** (len(delivery.attempts) - 1)
                self._push(
                    delivery, time.monotonic() + min(backoff, self._settings.webhook_retry_max_s)
                )
                self._cond.notify_all()

    # -- diagnostics ---------------------------------------------------------------

    def deliveries(self, filters: dict[str, str], limit: int) -> list[dict[str, Any]]:
        keys = {"status": "status", "event_id": "event_id", "event_type": "event_type"}
        with self._cond:
            found = [
                d.to_json()
                for d in self._deliveries.values()
                if all(getattr(d, keys[k]) == v for k, v in filters.items() if k in keys)
                and filters.get("endpoint_id", d.target.endpoint_id) == d.target.endpoint_id
            ]
        return found[-limit:]

    def stats(self) -> dict[str, Any]:
        with self._cond:
            counts: dict[str, int] = {}
            for delivery in self._deliveries.values():
                counts[delivery.status] = counts.get(delivery.status, 0) + 1
        return {
            "running": self.running,
            "pending": sum(counts.get(s, 0) for s in PENDING),
            "delivered": counts.get("delivered", 0),
            "failed": counts.get("failed", 0),
            "lost": counts.get("lost", 0),
        }
