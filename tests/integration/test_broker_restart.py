"""Durability and reconnection across a broker restart, on a private node we control."""

from __future__ import annotations

import threading

import pytest

from sandbox.messaging import OutgoingMessage, Publisher, PublishError, ensure_topology
from sandbox.messaging.tools import drain
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

from .consumers import running_consumer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _event(n: int) -> OutgoingMessage:
    return OutgoingMessage.event(
        "payment.completed",
        {"type": "PAYMENT_COMPLETED", "paymentId": f"pay_{n}"},
        producer="payment-service",
    )


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_confirmed_messages_survive_a_broker_restart(sandbox_private_broker, how):
    node = sandbox_private_broker()
    topology = build(BrokerSettings())
    ensure_topology(node.url, topology)
    messages = [_event(n) for n in range(1000)]
    with Publisher(node.url, topology.exchange.name) as publisher:
        assert publisher.publish_many(messages) == [None] * 1000

    if how == "stop":
        node.stop()
    else:
        node.kill()
    node.start()

    got = drain(node.url, "payment_events")
    assert sorted(m.properties["message_id"] for m in got) == sorted(m.message_id for m in messages)


def test_running_consumer_and_publisher_reconnect_after_restart_and_carry_on(
    sandbox_private_broker,
):
    node = sandbox_private_broker()
    topology = build(BrokerSettings(reconnect_max_s=1.0))
    ensure_topology(node.url, topology)
    received: set[str] = set()
    lock = threading.Lock()

    def handler(message):
        with lock:
            received.add(message.message_id)

    publisher = Publisher(node.url, topology.exchange.name, reconnect_max_s=1.0).start()
    try:
        with running_consumer(
            node.url, topology, "payment_events", handler, reconnect_max_s=1.0
        ) as consumer:
            before = _event(1)
            publisher.publish(before)
            wait_for(lambda: before.message_id in received, timeout=10, what="first message")

            node.restart()  # graceful stop: clients see CONNECTION_FORCED

            wait_for(
                lambda: publisher.connected and consumer.connected,
                timeout=30,
                what="publisher and consumer to reconnect",
                seen=lambda: (publisher.connected, consumer.connected),
            )
            after = [_event(n) for n in range(2, 52)]
            for _attempt in range(3):
                errors = publisher.publish_many(after, timeout=15)
                if all(e is None for e in errors):
                    break
                assert all(isinstance(e, PublishError) for e in errors if e)
            wait_for(
                lambda: {m.message_id for m in after} <= received,
                timeout=20,
                what="all messages published after the restart",
                seen=lambda: len(received),
            )
            assert consumer.stats.reconnects >= 1
    finally:
        publisher.close()
