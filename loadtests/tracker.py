"""Completion of flows, seen on the bus, and the ledger of every flow a load started.

Each Locust process (the local runner, or each worker in distributed mode) keeps one
``FlowTracker``: a private subscription to the events that end a flow.  A user registers
what it waits for *before* its first request, so an event can never arrive unnoticed,
then blocks its greenlet until the event comes or the deadline passes.  Every process
sees every event; it only answers the correlation ids it is waiting for.

The ``Ledger`` writes one JSON line per started flow (see docs/reconciliation.md); after
the load, the reconciliation reads it to account for every flow.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gevent.event import AsyncResult

from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.subscription import Subscription

# (routing key, body) -> True when this is the event that ends the flow
Match = Callable[[str, dict[str, Any]], bool]


@dataclass
class Waiter:
    routing_key: str
    match: Match
    result: AsyncResult = field(default_factory=AsyncResult)

    def wait(self, timeout: float) -> float | None:
        """Wall-clock arrival time of the awaited event, or None at the deadline."""
        # wait(), not get(): get() raises gevent.Timeout, which ends the Locust user
        if timeout <= 0 or not self.result.wait(timeout):
            return None
        value = self.result.value
        return float(value) if value is not None else None


class FlowTracker:
    """Wakes the users waiting for an event with their correlation id."""

    def __init__(self, amqp_url: str, exchange: str, routing_keys: tuple[str, ...]) -> None:
        self._waiting: dict[str, list[Waiter]] = {}
        self._lock = threading.Lock()
        name = f"load-tracker-{socket.gethostname()}-{os.getpid()}"
        # a durable queue of its own: events routed while the broker restarts or the
        # connection is down wait for the tracker instead of being missed
        self._subscription = Subscription(
            amqp_url,
            [(exchange, key) for key in routing_keys],
            self._on_message,
            name=name,
            queue=name,
        )
        self.seen = 0

    def start(self, timeout: float = 30.0) -> FlowTracker:
        self._subscription.start(timeout)
        return self

    def stop(self) -> None:
        self._subscription.stop(delete=True)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._waiting)

    def expect(self, correlation_id: str, routing_key: str, match: Match) -> Waiter:
        waiter = Waiter(routing_key, match)
        with self._lock:
            self._waiting.setdefault(correlation_id, []).append(waiter)
        return waiter

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._waiting.pop(correlation_id, None)

    def _on_message(self, message: IncomingMessage) -> None:
        arrived = time.time()
        self.seen += 1
        correlation_id = message.correlation_id
        with self._lock:
            waiters = self._waiting.get(correlation_id or "")
        if not waiters:
            return
        try:
            payload = message.body
        except ValueError:
            return
        key = message.routing_key
        for waiter in list(waiters):
            if waiter.routing_key == key and waiter.match(key, payload):
                waiter.result.set(arrived)
                with self._lock:
                    remaining = self._waiting.get(correlation_id or "", [])
                    if waiter in remaining:
                        remaining.remove(waiter)
                    if not remaining:
                        self._waiting.pop(correlation_id or "", None)


class Ledger:
    """One JSON line per started flow, in this process's own file of ``directory``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"flows-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.written = 0

    def record(self, **flow: Any) -> None:
        line = json.dumps(flow, sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            self.written += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()
