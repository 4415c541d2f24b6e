"""The topology as data: names, ladders, bindings and the definitions export."""

from __future__ import annotations

import json

import pytest

from sandbox.settings import BrokerSettings
from sandbox.topology import build, topic_matches


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("payment.#", "payment.completed", True),
        ("payment.#", "payment", True),
        ("payment.#", "payment.a.b", True),
        ("payment.#", "appointment.created", False),
        ("payment.*", "payment.completed", True),
        ("payment.*", "payment.a.b", False),
        ("#", "anything.at.all", True),
        ("*.created", "payment.created", True),
        ("*.created", "payment.completed", False),
    ],
)
def test_topic_matching_follows_amqp_rules(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def test_default_names_match_the_seed():
    topology = build(BrokerSettings())
    assert topology.exchange.name == "appointment_events"
    assert topology.exchange.type == "topic"
    assert [(q.name, q.bindings) for q in topology.queues] == [
        ("payment_events", ("payment.#",)),
        ("appointment_notifications", ("appointment.#",)),
        ("notifier_payment_events", ("payment.#",)),
    ]


def test_payment_events_reach_the_appointment_service_and_the_notifier():
    topology = build(BrokerSettings())
    assert topology.queues_for("payment.refunded") == ["payment_events", "notifier_payment_events"]
    assert topology.queues_for("appointment.confirmed") == ["appointment_notifications"]
    assert topology.queues_for("notification.sent") == []
    assert topology.observed_for("notification.sent") == ["notification_events"]


def test_each_consumed_queue_has_one_wait_queue_per_delay_and_a_dlq():
    topology = build(BrokerSettings(retry_delays_ms=(1000, 2000, 4000)))
    decls = {d.name: d for d in topology.declarations()}
    for level, ttl in enumerate((1000, 2000, 4000), start=1):
        wait = decls[f"payment_events.retry.{level}"]
        assert wait.arguments["x-message-ttl"] == ttl
        # back to the work queue alone, through the default exchange
        assert wait.arguments["x-dead-letter-exchange"] == ""
        assert wait.arguments["x-dead-letter-routing-key"] == "payment_events"
    assert decls["payment_events.dlq"].role == "dlq"
    assert "x-message-ttl" not in decls["payment_events.dlq"].arguments
    assert topology.max_attempts == 4


def test_quorum_is_the_default_with_a_delivery_limit_safety_net():
    decls = {d.name: d for d in build(BrokerSettings()).declarations()}
    work = decls["payment_events"].arguments
    assert work["x-queue-type"] == "quorum"
    assert work["x-delivery-limit"] == 10
    assert work["x-dead-letter-routing-key"] == "payment_events.dlq"
    assert work["x-dead-letter-strategy"] == "at-least-once"


def test_classic_queues_carry_no_quorum_only_arguments():
    for decl in build(BrokerSettings(queue_type="classic")).declarations():
        assert decl.arguments["x-queue-type"] == "classic"
        assert "x-delivery-limit" not in decl.arguments
        assert "x-dead-letter-strategy" not in decl.arguments


def test_configured_names_and_delays_flow_through():
    settings = BrokerSettings(exchange="ex", payment_queue="pq", retry_delays_ms=(50, 60))
    topology = build(settings)
    names = [d.name for d in topology.declarations()]
    assert names[:4] == ["pq", "pq.retry.1", "pq.retry.2", "pq.dlq"]
    assert names[-1] == "notification_events"
    assert topology.exchange.name == "ex"


def test_definitions_export_is_loadable_json_with_every_queue_and_binding():
    topology = build(BrokerSettings())
    definitions = json.loads(json.dumps(topology.to_definitions()))
    assert [e["name"] for e in definitions["exchanges"]] == [
        "appointment_events",
        "appointment_events.dlx",
    ]
    assert len(definitions["queues"]) == 3 * (1 + 3 + 1) + 1
    events = {
        (b["destination"], b["routing_key"])
        for b in definitions["bindings"]
        if b["source"] == "appointment_events"
    }
    assert events == {
        ("payment_events", "payment.#"),
        ("appointment_notifications", "appointment.#"),
        ("notifier_payment_events", "payment.#"),
        ("notification_events", "notification.#"),
    }
    hops = [b for b in definitions["bindings"] if b["source"] == "appointment_events.dlx"]
    assert len(hops) == 3 * (3 + 1)
    assert all(b["destination"] == b["routing_key"] for b in hops)
    assert all(q["durable"] for q in definitions["queues"])


def test_describe_lists_every_queue():
    text = build(BrokerSettings()).describe()
    for decl in build(BrokerSettings()).declarations():
        assert decl.name in text


def test_notification_events_are_kept_in_a_bounded_observer_queue():
    decls = {d.name: d for d in build(BrokerSettings()).declarations()}
    observed = decls["notification_events"]
    assert observed.role == "observed"
    assert observed.arguments["x-max-length"] == 10_000
    assert observed.arguments["x-overflow"] == "drop-head"
