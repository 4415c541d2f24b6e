"""A slow handler must not cost the consumer its connection."""

from __future__ import annotations

import threading

import pytest

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.tools import depths
from sandbox.waiting import wait_for

from .consumers import running_consumer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEARTBEAT_S = 2


def test_handler_running_longer_than_the_heartbeat_keeps_the_connection(
    sandbox_declared_vhost, sandbox_topology
):
    release = threading.Event()
    started = threading.Event()
    done: list[str | None] = []

    def slow_handler(message):
        started.set()
        # Simulated work that blocks this thread for 3 heartbeat intervals; the broker
        # closes a connection that misses two heartbeats in a row.
        release.wait(3 * HEARTBEAT_S + 1)
        done.append(message.message_id)

    with running_consumer(
        sandbox_declared_vhost.url,
        sandbox_topology,
        "payment_events",
        slow_handler,
        heartbeat=HEARTBEAT_S,
    ) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish(
                OutgoingMessage.event(
                    "payment.completed",
                    example_body("payment.completed"),
                    producer="payment-service",
                )
            )
        assert started.wait(10), "handler never started"
        wait_for(lambda: done, timeout=3 * HEARTBEAT_S + 10, what="the slow handler to finish")
        wait_for(lambda: consumer.stats.acked == 1, timeout=5, what="the ack")
        assert consumer.stats.reconnects == 0
        assert consumer.stats.delivered == 1
        assert consumer.connected
    assert depths(sandbox_declared_vhost.url, ["payment_events", "payment_events.dlq"]) == {
        "payment_events": 0,
        "payment_events.dlq": 0,
    }
