"""Routing on a real broker: each routing key lands in exactly its bound queues."""

from __future__ import annotations

import pytest

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher, UnroutableError, ensure_topology
from sandbox.messaging.tools import depths
from sandbox.topology import Topology

pytestmark = pytest.mark.integration

ROUTING_KEYS = [
    "payment.created",
    "payment.completed",
    "payment.failed",
    "payment.refunded",
    "payment.cancelled",
    "appointment.created",
    "appointment.confirmed",
    "appointment.cancelled",
    "notification.sent",
    "notification.failed",
]


def _event(routing_key: str) -> OutgoingMessage:
    producer = f"{routing_key.split('.')[0].replace('notification', 'notifier')}-service"
    return OutgoingMessage.event(routing_key, example_body(routing_key), producer=producer)


@pytest.mark.parametrize("routing_key", ROUTING_KEYS)
def test_publish_lands_in_exactly_the_bound_queues(
    sandbox_declared_vhost, sandbox_topology: Topology, routing_key
):
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        publisher.publish(_event(routing_key))

    all_queues = [d.name for d in sandbox_topology.declarations()]
    seen = depths(sandbox_declared_vhost.url, all_queues)
    bound = sandbox_topology.queues_for(routing_key) + sandbox_topology.observed_for(routing_key)
    expected = {q: (1 if q in bound else 0) for q in all_queues}
    assert seen == expected
    assert sum(seen.values()) >= 1, f"{routing_key} routed nowhere"


def test_unroutable_publish_is_reported_to_the_caller(sandbox_vhost, sandbox_topology):
    # Not declared_vhost: the contract gate's tap binds "#", which routes every key.
    ensure_topology(sandbox_vhost.url, sandbox_topology)
    declared_vhost = sandbox_vhost
    nowhere = OutgoingMessage.event(
        "nobody.listens", {"type": "NOBODY_LISTENS"}, producer="payment-service"
    )
    with Publisher(declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        errors = publisher.publish_many(
            [_event("payment.completed"), nowhere, _event("payment.failed")]
        )
    assert errors[0] is None
    assert isinstance(errors[1], UnroutableError)
    assert errors[2] is None


def test_batch_publish_confirms_every_message(sandbox_declared_vhost, sandbox_topology):
    messages = [_event("appointment.created") for _ in range(500)]
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        errors = publisher.publish_many(messages)
    assert errors == [None] * 500
    assert depths(sandbox_declared_vhost.url, ["appointment_notifications"]) == {
        "appointment_notifications": 500
    }


def test_published_message_carries_the_envelope(sandbox_declared_vhost, sandbox_topology):
    from sandbox.messaging.tools import drain

    body = example_body("payment.completed", paymentId="pay_1")
    message = OutgoingMessage.event(
        "payment.completed", body, producer="payment-service", correlation_id="corr-1"
    )
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        publisher.publish(message)
    [got] = drain(sandbox_declared_vhost.url, "payment_events")
    props = got.properties
    assert props["message_id"] == message.message_id
    assert props["correlation_id"] == "corr-1"
    assert props["type"] == "PAYMENT_COMPLETED"
    assert props["app_id"] == "payment-service"
    assert props["content_type"] == "application/json"
    assert props["delivery_mode"] == 2
    assert isinstance(props["timestamp"], int)
    assert props["headers"]["x-schema-version"] == "1"
    assert got.json() == body
