"""The retry ladder and the DLQ on a real broker (SPEC section 2)."""

from __future__ import annotations

import itertools

import pytest

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, PermanentError, Publisher
from sandbox.messaging.tools import depths, peek, publish_raw_message
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

from .consumers import (
    Recorder,
    completed_without_payment_id,
    requires_payment_id,
    running_consumer,
)

pytestmark = pytest.mark.integration

QUEUE = "payment_events"


def _completed(payment_id: str = "pay_1", **fields: str) -> OutgoingMessage:
    return OutgoingMessage.event(
        "payment.completed",
        example_body("payment.completed", paymentId=payment_id, **fields),
        producer="payment-service",
    )


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
def test_always_failing_message_is_retried_after_1_2_4_s_then_dead_lettered(
    sandbox_vhost, queue_type
):
    topology = build(BrokerSettings(queue_type=queue_type))
    recorder = Recorder()

    def handler(message):
        recorder.record(message)
        raise Boom("database is on fire")

    with running_consumer(sandbox_vhost.url, topology, QUEUE, handler):
        with Publisher(sandbox_vhost.url, topology.exchange.name) as publisher:
            publisher.publish(_completed())
        wait_for(
            lambda: depths(sandbox_vhost.url, [f"{QUEUE}.dlq"])[f"{QUEUE}.dlq"] == 1,
            timeout=20,
            what="the message in the DLQ",
            seen=lambda: (recorder.count(), depths(sandbox_vhost.url, [f"{QUEUE}.dlq"])),
        )

    times = [t for t, _ in recorder.deliveries]
    assert len(times) == 4, f"expected 4 deliveries in all, saw {len(times)}"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, expected in zip(gaps, [1.0, 2.0, 4.0], strict=True):
        assert abs(gap - expected) <= 0.25 * expected, f"gaps {gaps} not within 25% of 1, 2, 4 s"
    assert [m.attempt for _, m in recorder.deliveries] == [1, 2, 3, 4]

    [dead] = peek(sandbox_vhost.url, f"{QUEUE}.dlq")
    headers = dead.headers
    assert headers["x-dead-letter-reason"] == "handler-error"
    assert headers["x-exception-class"] == "Boom"
    assert headers["x-exception-message"] == "database is on fire"
    assert headers["x-attempt"] == 4
    assert headers["x-original-routing-key"] == "payment.completed"
    assert headers["x-failed-service"] == "test-service"
    assert dead.json()["paymentId"] == "pay_1"
    assert dead.properties["message_id"] == recorder.deliveries[0][1].message_id


@pytest.fixture
def sandbox_broker_settings() -> BrokerSettings:
    # The ladder's timing is proven above; the remaining tests only need its shape.
    return BrokerSettings(retry_delays_ms=(100, 200, 400))


def test_message_failing_twice_then_succeeding_is_processed_once(
    sandbox_declared_vhost, sandbox_topology
):
    attempts: list[int] = []
    processed: list[str | None] = []

    def handler(message):
        attempts.append(message.attempt)
        if message.attempt <= 2:
            raise Boom("transient")
        processed.append(message.message_id)

    with running_consumer(sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish(_completed())
        wait_for(
            lambda: processed,
            timeout=10,
            what="the third attempt to succeed",
            seen=lambda: attempts,
        )
        wait_for(lambda: consumer.stats.acked == 1, timeout=5, what="the final ack")

    assert attempts == [1, 2, 3]
    assert len(processed) == 1
    remaining = depths(
        sandbox_declared_vhost.url,
        [QUEUE, f"{QUEUE}.dlq"] + [f"{QUEUE}.retry.{n}" for n in (1, 2, 3)],
    )
    assert remaining == dict.fromkeys(remaining, 0)


@pytest.mark.contract_violations_expected
@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"not json at all {", "invalid-json"), (b'["a", "list"]', "invalid-json")],
)
def test_non_json_body_goes_straight_to_the_dlq_and_consumption_continues(
    sandbox_declared_vhost, sandbox_topology, body, reason
):
    seen: list[str | None] = []
    with running_consumer(
        sandbox_declared_vhost.url, sandbox_topology, QUEUE, lambda m: seen.append(m.message_id)
    ) as consumer:
        publish_raw_message(
            sandbox_declared_vhost.url,
            sandbox_topology.exchange.name,
            "payment.completed",
            body,
            {"message_id": "poison-1"},
        )
        good = _completed()
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish(good)
        wait_for(lambda: good.message_id in seen, timeout=10, what="the good message")
        assert consumer.stats.retried == 0

    [dead] = peek(sandbox_declared_vhost.url, f"{QUEUE}.dlq")
    assert dead.properties["message_id"] == "poison-1"
    assert dead.headers["x-dead-letter-reason"] == reason
    assert dead.headers["x-attempt"] == 1
    assert dead.raw_body == body
    assert "poison-1" not in seen


@pytest.mark.contract_violations_expected
def test_schema_invalid_body_goes_straight_to_the_dlq_with_the_violation(
    sandbox_declared_vhost, sandbox_topology
):
    seen: list[str | None] = []
    with running_consumer(
        sandbox_declared_vhost.url,
        sandbox_topology,
        QUEUE,
        lambda m: seen.append(m.message_id),
        validator=requires_payment_id,
    ) as consumer:
        bad = OutgoingMessage.event(
            "payment.completed", completed_without_payment_id(), producer="payment-service"
        )
        good = _completed()
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish_many([bad, good])
        wait_for(lambda: good.message_id in seen, timeout=10, what="the valid message")
        wait_for(lambda: consumer.stats.dead_lettered == 1, timeout=5, what="the dead letter")
        assert consumer.stats.retried == 0

    [dead] = peek(sandbox_declared_vhost.url, f"{QUEUE}.dlq")
    assert dead.properties["message_id"] == bad.message_id
    assert dead.headers["x-dead-letter-reason"] == "schema-violation"
    assert "$.paymentId is required" in dead.headers["x-exception-message"]
    assert bad.message_id not in seen


def test_permanent_error_dead_letters_without_retrying(sandbox_declared_vhost, sandbox_topology):
    def handler(message):
        raise PermanentError("unknown event type PAYMENT_TELEPORTED")

    with running_consumer(sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish(_completed())
        wait_for(lambda: consumer.stats.dead_lettered == 1, timeout=10, what="the dead letter")
        assert consumer.stats.retried == 0
    [dead] = peek(sandbox_declared_vhost.url, f"{QUEUE}.dlq")
    assert dead.headers["x-dead-letter-reason"] == "rejected"
    assert dead.headers["x-exception-class"] == "PermanentError"


def test_an_error_quoting_a_lone_surrogate_still_dead_letters_with_its_message(
    sandbox_declared_vhost, sandbox_topology
):
    def handler(message):
        raise PermanentError(f"bad name {message.body['customerName']}")

    with running_consumer(sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            # JSON may spell a lone surrogate ("\ud800"); UTF-8 cannot carry one
            publisher.publish(_completed(customerName="Ada \ud800"))
        wait_for(lambda: consumer.stats.dead_lettered == 1, timeout=10, what="the dead letter")
    [dead] = peek(sandbox_declared_vhost.url, f"{QUEUE}.dlq")
    assert dead.headers["x-exception-message"] == "bad name Ada \\ud800"


def test_replayed_dead_letter_is_processed_by_its_own_queue_only(
    sandbox_declared_vhost, sandbox_topology
):
    from sandbox.messaging.tools import replay_dlq

    fail = {"on": True}
    processed: list[str | None] = []

    def handler(message):
        if fail["on"]:
            raise Boom("smtp down")
        processed.append(message.message_id)

    with running_consumer(sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            message = _completed()
            publisher.publish(message)
        wait_for(lambda: consumer.stats.dead_lettered == 1, timeout=10, what="the dead letter")
        # the notifier's copy of the same event sits untouched in its own queue
        before = depths(sandbox_declared_vhost.url, ["notifier_payment_events"])
        fail["on"] = False
        assert replay_dlq(sandbox_declared_vhost.url, sandbox_topology, f"{QUEUE}.dlq") == 1
        wait_for(lambda: processed, timeout=10, what="the replayed message")
        assert depths(sandbox_declared_vhost.url, ["notifier_payment_events"]) == before
    assert processed == [message.message_id]
    assert depths(sandbox_declared_vhost.url, [f"{QUEUE}.dlq"]) == {f"{QUEUE}.dlq": 0}
