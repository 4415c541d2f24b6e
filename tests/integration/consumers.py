"""A running-consumer helper for integration tests, and a stand-in contract validator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.contracts import example_body
from sandbox.messaging import Consumer, IncomingMessage
from sandbox.topology import Topology


def requires_payment_id(message: IncomingMessage) -> list[str]:
    """A validator whose one rule is that the body has a ``paymentId``."""
    if "paymentId" in message.body:
        return []
    return [f"{message.event_key}: $.paymentId is required"]


def completed_without_payment_id() -> dict[str, Any]:
    """A ``payment.completed`` body that breaks ``requires_payment_id``."""
    body = example_body("payment.completed")
    del body["paymentId"]
    return body


@dataclass
class Recorder:
    """Records every delivery a handler sees, with its monotonic arrival time."""

    deliveries: list[tuple[float, IncomingMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, message: IncomingMessage) -> None:
        with self.lock:
            self.deliveries.append((time.monotonic(), message))

    def count(self) -> int:
        with self.lock:
            return len(self.deliveries)

    def message_ids(self) -> list[str | None]:
        with self.lock:
            return [m.message_id for _, m in self.deliveries]


@contextmanager
def running_consumer(
    url: str,
    topology: Topology,
    queue: str,
    handler: Callable[[IncomingMessage], None],
    **kwargs: object,
) -> Iterator[Consumer]:
    consumer = Consumer(url, topology, [queue], handler, service="test-service", **kwargs)  # type: ignore[arg-type]
    thread = consumer.start_in_thread()
    assert consumer.wait_connected(30), "consumer did not connect within 30 s"
    try:
        yield consumer
    finally:
        consumer.stop()
        thread.join(30)
        assert not thread.is_alive(), "consumer thread did not stop"
