"""A publisher with pipelined publisher confirms that reconnects by itself.

Why an I/O thread with pika's SelectConnection rather than a BlockingConnection: a
blocking channel in confirm mode waits one round trip (and, for quorum queues, one disk
sync) per message.  Here a batch is written to the socket at once and the broker's acks,
which it may coalesce with ``multiple``, settle the whole batch.

Every message is published ``mandatory`` and persistent.  RabbitMQ sends ``basic.return``
for an unroutable message before its ``basic.ack``, so a message acked after a return is
reported as unroutable, not as delivered.  A message whose connection dies before its
confirm is reported as unconfirmed: the caller does not know whether it arrived and must
publish it again (consumers de-duplicate by ``message_id``).  A message that cannot be
encoded as AMQP at all (a property over 255 bytes, a header value of no AMQP type) is
reported as unpublishable at once and never queued: publishing it again cannot help,
and left in the queue it would hold back every message behind it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.select_connection import SelectConnection
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from sandbox.messaging.connection import parameters
from sandbox.messaging.envelope import OutgoingMessage

log = logging.getLogger(__name__)


class PublishError(Exception):
    """A message was not confirmed by the broker."""


class UnroutableError(PublishError):
    """The broker returned the message: no queue is bound for its routing key."""


class NackedError(PublishError):
    """The broker refused responsibility for the message (basic.nack)."""


class UnconfirmedError(PublishError):
    """The connection was lost or the wait timed out before the broker confirmed."""


class UnpublishableError(PublishError):
    """The message cannot be encoded as AMQP; publishing it again cannot help."""


def check_encodable(message: OutgoingMessage, exchange: str = "") -> None:
    """Raise UnpublishableError when ``message`` cannot be put into AMQP frames.

    The reason names the property at fault, never its value: values that do not fit
    come from outside and may be large, hostile or private.
    """
    problem = message.amqp_problem()
    if problem is not None:
        raise UnpublishableError(problem)
    try:
        # what basic_publish would marshal: the method frame and the content header
        Basic.Publish(exchange=exchange, routing_key=message.routing_key).encode()
        BasicProperties(**message.envelope.properties()).encode()
    except Exception as exc:
        raise UnpublishableError(
            f"the AMQP encoder refused its properties ({type(exc).__name__})"
        ) from None


@dataclass
class _Batch:
    size: int
    errors: list[PublishError | None] = field(init=False)
    settled: list[bool] = field(init=False)
    remaining: int = field(init=False)
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.errors = [None] * self.size
        self.settled = [False] * self.size
        self.remaining = self.size
        if self.size == 0:
            self.done.set()

    def settle(self, index: int, error: PublishError | None) -> None:
        with self.lock:
            if self.cancelled or self.settled[index]:
                return
            self.settled[index] = True
            self.errors[index] = error
            self.remaining -= 1
            if self.remaining == 0:
                self.done.set()

    def cancel(self, reason: str) -> None:
        """Give up waiting: every message not yet settled is reported unconfirmed."""
        with self.lock:
            self.cancelled = True
            for i, settled in enumerate(self.settled):
                if not settled:
                    self.errors[i] = UnconfirmedError(reason)


@dataclass
class _Item:
    batch: _Batch
    index: int
    exchange: str
    message: OutgoingMessage
    returned: str | None = None


class Publisher:
    """Publishes OutgoingMessages to one exchange with confirms; thread-safe."""

    def __init__(
        self,
        urls: str | Sequence[str],
        exchange: str,
        *,
        heartbeat: int = 30,
        reconnect_max_s: float = 5.0,
        name: str = "publisher",
    ) -> None:
        self._params = parameters(urls, heartbeat=heartbeat)
        for p in self._params:
            p.client_properties = {"connection_name": name}
        self.exchange = exchange
        self._reconnect_max_s = reconnect_max_s
        self._name = name
        self._lock = threading.Lock()
        self._queue: deque[_Item] = deque()
        self._pending: dict[int, _Item] = {}
        self._by_message_id: dict[str, _Item] = {}
        self._connection: SelectConnection | None = None
        self._channel: Channel | None = None
        self._next_tag = 0
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connects = 0
        self._was_open = False

    # -- caller side -------------------------------------------------------------------

    def start(self, wait_s: float = 30.0) -> Publisher:
        """Start the I/O thread and wait until the first channel is ready."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        if not self._ready.wait(wait_s):
            raise UnconfirmedError(f"{self._name}: no broker connection within {wait_s} s")
        return self

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def publish(self, message: OutgoingMessage, timeout: float = 10.0) -> None:
        """Publish one message and wait for its confirm; raise PublishError if not confirmed."""
        error = self.publish_many([message], timeout=timeout)[0]
        if error is not None:
            raise error

    def publish_to(self, exchange: str, message: OutgoingMessage, timeout: float = 10.0) -> None:
        """Publish one message to another exchange (``""`` routes by queue name)."""
        error = self._submit([message], exchange, timeout)[0]
        if error is not None:
            raise error

    def publish_many(
        self, messages: Sequence[OutgoingMessage], timeout: float = 30.0
    ) -> list[PublishError | None]:
        """Publish a batch pipelined; return per message None (confirmed) or its error."""
        return self._submit(messages, self.exchange, timeout)

    def _submit(
        self, messages: Sequence[OutgoingMessage], exchange: str, timeout: float
    ) -> list[PublishError | None]:
        if self._thread is None:
            raise RuntimeError("publisher not started")
        batch = _Batch(len(messages))
        items: list[_Item] = []
        for i, message in enumerate(messages):
            try:
                check_encodable(message, exchange)
            except UnpublishableError as exc:
                batch.settle(i, exc)
                continue
            items.append(_Item(batch, i, exchange, message))
        with self._lock:
            self._queue.extend(items)
        self._wake()
        if not batch.done.wait(timeout):
            # Anything settled later is ignored: the caller already has its answer.
            batch.cancel(f"no confirm within {timeout} s")
        return list(batch.errors)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the I/O thread; unconfirmed messages are reported as such."""
        self._stopping.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.ioloop.add_callback_threadsafe(self._close_connection)
            except Exception:  # the loop has already gone
                log.debug("%s: close while disconnected", self._name)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wake(self) -> None:
        connection = self._connection
        if connection is None or not self._ready.is_set():
            return  # drained when the channel is ready again
        try:
            connection.ioloop.add_callback_threadsafe(self._drain)
        except Exception:  # connection closing; the next connection drains
            log.debug("%s: wake while reconnecting", self._name)

    # -- I/O thread --------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            connection = SelectConnection(
                parameters=self._params[self.connects % len(self._params)],
                on_open_callback=self._on_connection_open,
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_connection_closed,
            )
            self._connection = connection
            connection.ioloop.start()
            self._connection = None
            connection.ioloop.close()  # releases the loop's wake-up socket pair
            self._fail_pending("connection lost before the broker confirmed")
            if self._stopping.is_set():
                break
            if self._was_open:
                delay = 0.1
            self._was_open = False
            # Capped exponential backoff between reconnects; Event.wait returns early on close.
            self._stopping.wait(delay)
            delay = min(delay * 2, self._reconnect_max_s)
        self._fail_queued("publisher closed")

    def _on_connection_open(self, connection: Any) -> None:
        self._was_open = True
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: Any, error: BaseException) -> None:
        self.connects += 1  # try the next node of a cluster next time
        log.warning("%s: cannot connect: %r", self._name, error)
        connection.ioloop.stop()

    def _on_connection_closed(self, connection: Any, reason: BaseException) -> None:
        self._ready.clear()
        self._channel = None
        if not self._stopping.is_set():
            log.warning("%s: connection closed: %r", self._name, reason)
        connection.ioloop.stop()

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel = channel
        self._next_tag = 0
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=self._on_confirm_mode)

    def _on_confirm_mode(self, _frame: Any) -> None:
        self.connects += 1
        self._ready.set()
        self._drain()

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        self._ready.clear()
        if not self._stopping.is_set():
            log.warning("%s: channel closed: %r", self._name, reason)
        self._close_connection()

    def _close_connection(self) -> None:
        connection = self._connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()
        elif connection is not None and connection.is_closed:
            connection.ioloop.stop()

    def _drain(self) -> None:
        channel = self._channel
        if channel is None or not self._ready.is_set():
            return
        while True:
            with self._lock:
                if not self._queue:
                    return
                item = self._queue.popleft()
            if item.batch.cancelled:
                continue
            props = BasicProperties(**item.message.envelope.properties())
            try:
                channel.basic_publish(
                    exchange=item.exchange,
                    routing_key=item.message.routing_key,
                    body=item.message.body,
                    properties=props,
                    mandatory=True,
                )
            except Exception as exc:  # channel went away mid-drain
                with self._lock:
                    self._queue.appendleft(item)
                log.warning("%s: publish failed, will retry on reconnect: %r", self._name, exc)
                return
            self._next_tag += 1
            self._pending[self._next_tag] = item
            self._by_message_id[item.message.message_id] = item

    def _on_return(
        self, _channel: Channel, method: Basic.Return, properties: BasicProperties, _body: bytes
    ) -> None:
        item = self._by_message_id.get(properties.message_id or "")
        if item is not None:
            item.returned = f"{method.reply_code} {method.reply_text}"

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, Basic.Ack)
        tags = (
            [t for t in self._pending if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            item = self._pending.pop(tag, None)
            if item is None:
                continue
            self._by_message_id.pop(item.message.message_id, None)
            error: PublishError | None = None
            if not acked:
                error = NackedError(f"broker nacked {item.message.message_id}")
            elif item.returned is not None:
                error = UnroutableError(
                    f"no queue bound for routing key {item.message.routing_key!r} "
                    f"on exchange {item.exchange!r} ({item.returned})"
                )
            item.batch.settle(item.index, error)
        if not acked and self._channel is not None and self._channel.is_open:
            # A nack can stick to the channel: on RabbitMQ 3.10, a channel whose first
            # publish to a quorum queue met the record of a killed leader has every later
            # publish to that queue nacked until the node returns.  A new channel (and
            # connection) asks again.
            log.warning("%s: broker nacked a publish; opening a new channel", self._name)
            self._channel.close()

    def _fail_pending(self, reason: str) -> None:
        pending = list(self._pending.values())
        self._pending.clear()
        self._by_message_id.clear()
        for item in pending:
            item.batch.settle(item.index, UnconfirmedError(reason))

    def _fail_queued(self, reason: str) -> None:
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
        for item in queued:
            item.batch.settle(item.index, UnconfirmedError(reason))


def publish_raw(
    channel: Any, exchange: str, routing_key: str, body: bytes, properties: dict[str, Any]
) -> None:
    """Publish on a blocking channel in confirm mode (used by consumers and tools)."""
    channel.basic_publish(
        exchange=exchange,
        routing_key=routing_key,
        body=body,
        properties=pika.BasicProperties(**properties),
        mandatory=True,
    )
