"""A private, self-healing subscription to routing keys on the sandbox's exchanges.

An observer (the event tap, a load generator timing its flows) needs a copy of some
messages without taking them from any service: it declares its own exclusive,
auto-deleted queue, binds it to the keys it wants and consumes with auto-ack.  The
queue is not part of the topology and disappears with the connection.  When the broker
goes away the subscription reconnects with backoff and binds a fresh queue; what was
published while it was disconnected is not seen.  A *named* subscription (``queue=``)
instead keeps a durable queue that outlives its connections and a broker restart, so
nothing routed to it is missed; it expires ``expires_s`` after its last consumer left,
and ``stop(delete=True)`` removes it.

The loop runs in a thread; under gevent (Locust) that thread is a greenlet and pika's
``select`` calls are cooperative, so the same code serves both.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pika.exceptions
from pika.spec import Basic, BasicProperties

from sandbox.messaging.connection import RECOVERABLE_ERRORS, connect, keep_reconnecting
from sandbox.messaging.envelope import PROPERTY_NAMES, IncomingMessage

log = logging.getLogger(__name__)

OnMessage = Callable[[IncomingMessage], None]

# Refusals that another attempt would meet again: no such exchange, no permission, a
# binding the broker rejects.  The subscription gives up on them instead of retrying.
PERMANENT_REPLY_CODES = {403, 404, 406}


def properties_dict(properties: BasicProperties) -> dict[str, Any]:
    """The properties that are set, by name."""
    return {
        name: getattr(properties, name)
        for name in PROPERTY_NAMES
        if getattr(properties, name) is not None
    }


def incoming(
    method: Basic.Deliver | Basic.GetOk,
    properties: BasicProperties,
    body: bytes,
    queue: str = "",
    routing_key: str | None = None,
) -> IncomingMessage:
    """pika's three pieces of a delivery as the one message type everyone reads."""
    return IncomingMessage(
        routing_key=routing_key or method.routing_key,
        raw_body=body,
        properties=properties_dict(properties),
        exchange=method.exchange,
        queue=queue,
        redelivered=bool(method.redelivered),
    )


class SubscriptionRefused(RuntimeError):
    """The broker refused the queue or a binding for good (see PERMANENT_REPLY_CODES)."""


class Subscription:
    """Copies of the messages routed to ``bindings``, passed to ``on_message``."""

    def __init__(
        self,
        urls: str | Sequence[str],
        bindings: Sequence[tuple[str, str]],
        on_message: OnMessage,
        *,
        name: str = "subscription",
        reconnect_max_s: float = 2.0,
        poll_s: float = 0.1,
        queue: str | None = None,
        expires_s: float = 600.0,
    ) -> None:
        if not bindings:
            raise ValueError("a subscription needs at least one (exchange, routing key)")
        self._urls = urls
        self._bindings = list(bindings)
        self._on_message = on_message
        self._name = name
        self._reconnect_max_s = reconnect_max_s
        self._poll_s = poll_s
        self._queue = queue
        self._expires_ms = int(expires_s * 1000)
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0
        self.failure: BaseException | None = None
        self.queue_name: str | None = None  # the queue bound now (server-named unless given)

    def start(self, timeout: float = 30.0) -> Subscription:
        """Start consuming; return once the queue is bound (or raise TimeoutError)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name=self._name, daemon=True)
            self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.failure is not None:
                raise SubscriptionRefused(f"{self._name}: {self.failure}") from self.failure
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._name}: not bound within {timeout} s")
        return self

    def stop(self, timeout: float = 10.0, *, delete: bool = False) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if delete and self._queue:
            with contextlib.suppress(*RECOVERABLE_ERRORS):
                connection = connect(self._urls, name=self._name)
                try:
                    connection.channel().queue_delete(self._queue)
                finally:
                    connection.close()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def run(self) -> None:
        """Consume until ``stop()``, reconnecting whenever the connection is lost."""
        keep_reconnecting(self._consume, self._stopping, self._reconnect_max_s, self._retry)

    def _retry(self, exc: BaseException, delay: float) -> bool:
        if (
            isinstance(exc, pika.exceptions.ChannelClosedByBroker)
            and exc.reply_code in PERMANENT_REPLY_CODES
        ):
            log.error("%s: the broker refused the subscription: %s", self._name, exc)
            self.failure = exc
            return False
        self.reconnects += 1
        log.info("%s: connection lost (%r); binding again", self._name, exc)
        return True

    def _consume(self) -> None:
        connection = connect(self._urls, name=self._name)
        try:
            channel = connection.channel()
            if self._queue:
                declared = channel.queue_declare(
                    queue=self._queue,
                    durable=True,
                    arguments={"x-queue-type": "classic", "x-expires": self._expires_ms},
                )
            else:
                declared = channel.queue_declare(queue="", exclusive=True, auto_delete=True)
            queue = declared.method.queue
            for exchange, routing_key in self._bindings:
                channel.queue_bind(queue, exchange, routing_key=routing_key)
            channel.basic_consume(queue, self._deliver, auto_ack=True)
            self.queue_name = queue
            self._ready.set()
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=self._poll_s)
        finally:
            self._ready.clear()
            if connection.is_open:
                with contextlib.suppress(*RECOVERABLE_ERRORS):
                    connection.close()

    def _deliver(
        self, _ch: Any, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        try:
            self._on_message(incoming(method, properties, body))
        except Exception:  # a broken observer must not take the subscription down
            log.exception("%s: handler failed on %s", self._name, method.routing_key)
