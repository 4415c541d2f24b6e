"""Connections to the broker: parameters, readiness probe, topology declaration and the
reconnect loop of the blocking consumers.

This package is the only code that imports pika.  A broker address is one AMQP URL or
several separated by commas (the nodes of a cluster); pika tries them in order, which is
how clients fail over when a node goes away.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from sandbox.topology import Topology

# Errors after which a client should drop its connection and connect again: the broker
# closed it (CONNECTION_FORCED on shutdown, 320), the socket died, a heartbeat was missed,
# or the channel was closed under us.
RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionWrongStateError,
    pika.exceptions.ChannelWrongStateError,
    pika.exceptions.ChannelClosed,
    pika.exceptions.StreamLostError,
    ConnectionError,
    OSError,
)


class BrokerConnectError(ConnectionError):
    """No broker answered an AMQP handshake at the given address."""


def split_urls(urls: str | Sequence[str]) -> list[str]:
    """Accept ``"amqp://a,amqp://b"`` or a list and return the individual URLs."""
    if isinstance(urls, str):
        items = urls.split(",")
    else:
        items = [part for url in urls for part in url.split(",")]
    result = [item.strip() for item in items if item.strip()]
    if not result:
        raise ValueError("no AMQP URL given")
    return result


def parameters(
    urls: str | Sequence[str],
    *,
    heartbeat: int | None = None,
    blocked_connection_timeout: float = 30.0,
    socket_timeout: float = 5.0,
) -> list[pika.URLParameters]:
    """Connection parameters for each node, with our heartbeat and timeouts applied."""
    result = []
    for url in split_urls(urls):
        params = pika.URLParameters(url)
        if heartbeat is not None:
            params.heartbeat = heartbeat
        # A broker under memory or disk alarm blocks publishers; give up rather than
        # hang forever so the caller can report it.
        params.blocked_connection_timeout = blocked_connection_timeout
        params.socket_timeout = socket_timeout
        params.connection_attempts = 1
        params.client_properties = {"connection_name": "payment-flow-sandbox"}
        result.append(params)
    return result


def connect(
    urls: str | Sequence[str], *, heartbeat: int | None = None, name: str | None = None
) -> pika.BlockingConnection:
    """Open a blocking connection to the first node that answers."""
    params = parameters(urls, heartbeat=heartbeat)
    if name:
        for p in params:
            p.client_properties = {"connection_name": name}
    return pika.BlockingConnection(params)


def keep_reconnecting(
    consume: Callable[[], None],
    stopping: threading.Event,
    max_delay_s: float,
    retry: Callable[[BaseException, float], bool],
) -> None:
    """Call ``consume`` (one connection's worth of consuming) until ``stopping`` is set.

    After a lost connection (one of RECOVERABLE_ERRORS) ``retry(error, delay)`` says
    whether to connect again, and the next attempt waits ``delay``: 0.1 s, doubled after
    each loss in a row up to ``max_delay_s``, 0.1 s again once ``consume`` returns.
    """
    delay = 0.1
    while not stopping.is_set():
        try:
            consume()
            delay = 0.1
        except RECOVERABLE_ERRORS as exc:
            if stopping.is_set() or not retry(exc, delay):
                return
            stopping.wait(delay)  # returns at once when stop() sets it
            delay = min(delay * 2, max_delay_s)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe(url: str, timeout: float = 2.0) -> None:
    """Complete one AMQP handshake and open a channel, or raise BrokerConnectError."""
    params = parameters(url, socket_timeout=timeout)
    # A refused TCP connect is the common case while a node boots; answering it here
    # keeps pika from logging a connection-workflow error on every poll.
    if not any(port_open(p.host, p.port, timeout) for p in params):
        raise BrokerConnectError(f"nothing listens at {url}")
    for p in params:
        p.stack_timeout = timeout
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        raise BrokerConnectError(f"no AMQP handshake at {url}: {exc!r}") from exc
    try:
        connection.channel().close()
    finally:
        connection.close()


def declare_topology(channel: BlockingChannel, topology: Topology) -> None:
    """Declare the exchange, every queue and every binding; safe to repeat."""
    exchange = topology.exchange
    channel.exchange_declare(
        exchange=exchange.name, exchange_type=exchange.type, durable=exchange.durable
    )
    for decl in topology.declarations():
        channel.queue_declare(queue=decl.name, durable=decl.durable, arguments=decl.arguments)
    for queue, pattern in topology.bindings():
        channel.queue_bind(queue=queue, exchange=exchange.name, routing_key=pattern)
    hops = topology.hop_exchange
    channel.exchange_declare(exchange=hops.name, exchange_type=hops.type, durable=hops.durable)
    for queue, key in topology.hop_bindings():
        channel.queue_bind(queue=queue, exchange=hops.name, routing_key=key)


def ensure_topology(urls: str | Sequence[str], topology: Topology) -> None:
    """Connect, declare the topology and disconnect."""
    connection = connect(urls, name="topology")
    try:
        declare_topology(connection.channel(), topology)
    finally:
        connection.close()
