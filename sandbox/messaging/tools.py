"""Queue inspection and DLQ replay, for the CLI, scenarios and tests; what they read
is the codec's ``IncomingMessage``.

These open a short-lived blocking connection per call; they are tools, not hot paths.
``BlockingPublisher`` keeps one connection for callers that publish many messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import pika
import pika.exceptions

from sandbox.messaging import envelope as env
from sandbox.messaging.connection import RECOVERABLE_ERRORS, connect
from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.publisher import publish_raw
from sandbox.messaging.subscription import incoming, properties_dict
from sandbox.topology import DEFAULT_EXCHANGE, Topology


def _declared(url: str, queues: Sequence[str]) -> dict[str, Any]:
    """Each queue's ``Queue.DeclareOk``: a passive declare counts, and changes nothing."""
    connection = connect(url, name="inspect")
    try:
        channel = connection.channel()
        return {q: channel.queue_declare(queue=q, passive=True).method for q in queues}
    finally:
        connection.close()


def depths(url: str, queues: Sequence[str]) -> dict[str, int]:
    """Messages ready in each of ``queues`` (not counting unacked ones)."""
    return {q: int(ok.message_count) for q, ok in _declared(url, queues).items()}


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in ``queue`` (not counting unacked ones)."""
    return depths(url, [queue])[queue]


def consumer_count(url: str, queue: str) -> int:
    """Consumers attached to ``queue``."""
    return int(_declared(url, [queue])[queue].consumer_count)


def _get(url: str, queue: str, limit: int | None, ack: bool) -> list[IncomingMessage]:
    connection = connect(url, name="inspect")
    messages: list[IncomingMessage] = []
    try:
        channel = connection.channel()
        while limit is None or len(messages) < limit:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            messages.append(incoming(method, properties, body, queue))
            if ack:
                channel.basic_ack(method.delivery_tag)
        # Closing the channel returns every unacked message to its queue, in order.
        channel.close()
    finally:
        connection.close()
    return messages


def peek(url: str, queue: str, limit: int = 100) -> list[IncomingMessage]:
    """Read up to ``limit`` messages and leave them in the queue."""
    return _get(url, queue, limit, ack=False)


def drain(url: str, queue: str, limit: int | None = None) -> list[IncomingMessage]:
    """Remove and return up to ``limit`` messages (all when None)."""
    return _get(url, queue, limit, ack=True)


def publish_raw_message(
    url: str,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: dict[str, Any] | None = None,
) -> None:
    """Publish arbitrary bytes with confirms (tests and scenarios use it for poison)."""
    connection = connect(url, name="inject")
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        props = {"delivery_mode": env.PERSISTENT, **(properties or {})}
        publish_raw(channel, exchange, routing_key, body, props)
    finally:
        connection.close()


def replay_dlq(url: str, topology: Topology, dlq: str, limit: int | None = None) -> int:
    """Move messages from ``dlq`` back to its work queue, one confirmed move at a time.

    Each message goes to the work queue alone (default exchange, queue name as routing
    key) so that other queues bound to its original key do not see it twice; its attempt
    count starts again and a header records the replay.  A message is acked in the DLQ
    only after the broker confirmed its copy, so a crash mid-replay loses nothing.
    """
    work = next((q for q in topology.queues if q.dlq == dlq), None)
    if work is None:
        known = ", ".join(topology.dlqs())
        raise KeyError(f"{dlq!r} is not a dead-letter queue of the topology (known: {known})")
    connection = connect(url, name="dlq-replay")
    moved = 0
    try:
        channel = connection.channel()
        out = connection.channel()
        out.confirm_delivery()
        while limit is None or moved < limit:
            method, properties, body = channel.basic_get(dlq, auto_ack=False)
            if method is None:
                break
            props = properties_dict(properties)
            headers = dict(props.get("headers") or {})
            reason = headers.pop(env.DEAD_LETTER_REASON_HEADER, None)
            for name in (
                env.EXCEPTION_CLASS_HEADER,
                env.EXCEPTION_MESSAGE_HEADER,
                env.FAILED_AT_HEADER,
                env.FAILED_SERVICE_HEADER,
                "x-death",
                "x-first-death-exchange",
                "x-first-death-queue",
                "x-first-death-reason",
                "x-delivery-count",
            ):
                headers.pop(name, None)
            headers[env.ATTEMPT_HEADER] = 1
            headers[env.REPLAYED_HEADER] = str(reason or "unknown")
            props["headers"] = headers
            publish_raw(out, DEFAULT_EXCHANGE, work.name, body, props)
            channel.basic_ack(method.delivery_tag)
            moved += 1
    finally:
        connection.close()
    return moved


def delete_topology(url: str, topology: Topology) -> tuple[int, int]:
    """Delete every queue and exchange ``topology`` declares, messages and all; return
    how many queues and exchanges were there.  What ``sandbox down --purge`` does on a
    broker someone else runs."""
    connection = connect(url, name="purge")
    try:
        queues = _delete_present(
            connection,
            [decl.name for decl in topology.declarations()],
            lambda channel, name: channel.queue_declare(queue=name, passive=True),
            lambda channel, name: channel.queue_delete(queue=name),
        )
        exchanges = _delete_present(
            connection,
            [topology.exchange.name, topology.hop_exchange.name],
            lambda channel, name: channel.exchange_declare(exchange=name, passive=True),
            lambda channel, name: channel.exchange_delete(exchange=name),
        )
    finally:
        connection.close()
    return queues, exchanges


def _delete_present(
    connection: Any,
    names: Sequence[str],
    look: Callable[[Any, str], object],
    delete: Callable[[Any, str], object],
) -> int:
    """Delete each of ``names`` that ``look`` (a passive declare) finds; how many."""
    deleted = 0
    for name in names:
        channel = connection.channel()
        try:  # a passive declare of a missing one closes the channel: 404
            look(channel, name)
        except pika.exceptions.ChannelClosedByBroker:
            continue
        delete(channel, name)
        channel.close()
        deleted += 1
    return deleted


class BlockingPublisher:
    """Publish one message at a time with confirms on a connection kept open.

    For load generators and tools that publish from a greenlet or a plain thread: no I/O
    thread of its own (unlike ``Publisher``).  A lost connection is reopened once per
    call; a second failure is raised to the caller.
    """

    def __init__(self, url: str, name: str = "blocking-publisher") -> None:
        self._url = url
        self._name = name
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None

    def publish(
        self, exchange: str, routing_key: str, body: bytes, properties: dict[str, Any]
    ) -> None:
        for attempt in (1, 2):
            try:
                if self._channel is None:
                    self._connection = connect(self._url, name=self._name)
                    self._channel = self._connection.channel()
                    self._channel.confirm_delivery()
                publish_raw(self._channel, exchange, routing_key, body, properties)
                return
            except RECOVERABLE_ERRORS:
                self.close()
                if attempt == 2:
                    raise

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*RECOVERABLE_ERRORS):
                connection.close()
