"""The event tap sees events, retries and dead letters, and validates events."""

from __future__ import annotations

import pytest

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.tap import EventTap
from sandbox.settings import BrokerSettings

from .consumers import completed_without_payment_id, requires_payment_id, running_consumer

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox_broker_settings() -> BrokerSettings:
    return BrokerSettings(retry_delays_ms=(100, 200, 400))


def _event(body: dict, correlation_id: str = "flow-1") -> OutgoingMessage:
    return OutgoingMessage.event(
        "payment.completed", body, producer="payment-service", correlation_id=correlation_id
    )


def test_tap_records_events_with_their_envelope(sandbox_declared_vhost, sandbox_topology):
    with EventTap(sandbox_declared_vhost.url, sandbox_topology) as tap:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish(_event(example_body("payment.completed", paymentId="p1")))
        [record] = tap.expect(routing_key="payment.completed", correlation_id="flow-1")
    assert record.type == "PAYMENT_COMPLETED"
    assert record.producer == "payment-service"
    assert record.json()["paymentId"] == "p1"
    assert record.kind == "event"


def test_tap_sees_every_retry_hop_and_the_dead_letter(sandbox_declared_vhost, sandbox_topology):
    def always_fails(message):
        raise RuntimeError("nope")

    with (
        EventTap(sandbox_declared_vhost.url, sandbox_topology) as tap,
        running_consumer(
            sandbox_declared_vhost.url, sandbox_topology, "payment_events", always_fails
        ),
    ):
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish(_event(example_body("payment.completed"), correlation_id="flow-2"))
        [dead] = tap.expect(kind="dead-letter", correlation_id="flow-2", timeout=10)
        retries = tap.records(lambda r: r.kind == "retry" and r.correlation_id == "flow-2")
    assert [r.routing_key for r in retries] == [
        "payment_events.retry.1",
        "payment_events.retry.2",
        "payment_events.retry.3",
    ]
    assert dead.routing_key == "payment_events.dlq"
    assert dead.event_key == "payment.completed"
    assert dead.headers["x-exception-class"] == "RuntimeError"


@pytest.mark.contract_violations_expected
def test_tap_names_the_message_and_producer_of_a_contract_violation(
    sandbox_declared_vhost, sandbox_topology
):
    with EventTap(
        sandbox_declared_vhost.url, sandbox_topology, validator=requires_payment_id
    ) as tap:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            good = _event(example_body("payment.completed", paymentId="p1"))
            bad = _event(completed_without_payment_id())
            publisher.publish_many([good, bad])
        tap.expect(routing_key="payment.completed", count=2)
        [violation] = tap.violations()
    assert violation.message_id == bad.message_id
    assert violation.producer == "payment-service"
    assert violation.violations == ("payment.completed: $.paymentId is required",)
