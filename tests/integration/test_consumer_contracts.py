"""Consumer contract tests: each real consumer process takes every generated valid message
and dead-letters every generated invalid one at once, without crashing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import requests

from sandbox.contracts import ContractRegistry, fake_body
from sandbox.control.process import ManagedProcess
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.tools import depths, peek, publish_raw_message
from sandbox.settings import BrokerSettings
from sandbox.waiting import wait_for
from tests.service_support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.contract_violations_expected]

REPO = Path(__file__).resolve().parents[2]
VALID_PER_KEY = 6


@pytest.fixture
def sandbox_broker_settings() -> BrokerSettings:
    return BrokerSettings(retry_delays_ms=(100, 200, 400))


def _invalid_bodies(routing_key: str, registry: ContractRegistry, rng: random.Random) -> list:
    schema = registry.bundled_schema(routing_key)
    base = fake_body(routing_key, rng.randint(0, 10**6))
    missing = dict(base)
    missing.pop(rng.choice(sorted(set(schema["required"]) - {"type"})))
    wrong_type = (
        {**base, "amount": "seventy-five"} if "amount" in base else {**base, "tenantId": 42}
    )
    card = {**base, "cardNumber": "4111111111111111"}
    bad_time = {**base, "timestamp": "yesterday"}
    return [json.dumps(b).encode() for b in (missing, wrong_type, card, bad_time)] + [b"{not json"]


CONSUMERS = {
    "appointment": (
        "sandbox.services.appointment",
        ["payment_events"],
        "APPOINTMENT_CONSUMER_HEALTH_PORT",
    ),
    "notifier": (
        "sandbox.services.notifier",
        ["appointment_notifications", "notifier_payment_events"],
        "NOTIFIER_CONSUMER_HEALTH_PORT",
    ),
}


@pytest.mark.parametrize("service", sorted(CONSUMERS))
def test_consumer_takes_valid_messages_and_dead_letters_invalid_ones(
    service, sandbox_declared_vhost, sandbox_topology, sandbox_broker_settings, tmp_path
):
    module, queues, port_variable = CONSUMERS[service]
    registry = ContractRegistry.load()
    health_port = free_port()
    env = {
        "RABBITMQ_URL": sandbox_declared_vhost.url,
        "RABBITMQ_RETRY_DELAYS_MS": ",".join(
            str(d) for d in sandbox_broker_settings.retry_delays_ms
        ),
        "SANDBOX_STATE_DIR": str(tmp_path),
        f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        port_variable: str(health_port),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),  # nobody listens: e-mails fail and are retried
    }
    health = f"http://127.0.0.1:{health_port}/health"
    consumer = ManagedProcess.python_module(
        f"{service}-consumer",
        module,
        "consumer",
        log_file=tmp_path / "consumer.log",
        env=env,
        health_url=health,
        cwd=REPO,
    ).start()
    rng = random.Random(20261122)
    keys = [
        k
        for k in registry.routing_keys()
        if sandbox_topology.queues_for(k) and set(sandbox_topology.queues_for(k)) & set(queues)
    ]
    valid, invalid = [], {}
    try:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            for key in keys:
                for _ in range(VALID_PER_KEY):
                    message = OutgoingMessage.event(
                        key,
                        fake_body(key, rng.randint(0, 10**6)),
                        producer=registry.producer_for(key),
                    )
                    valid.append(message)
            assert not any(publisher.publish_many(valid))
        for key in keys:
            for n, body in enumerate(_invalid_bodies(key, registry, rng)):
                message_id = f"invalid-{key}-{n}"
                invalid[message_id] = key
                publish_raw_message(
                    sandbox_declared_vhost.url,
                    sandbox_topology.exchange.name,
                    key,
                    body,
                    {
                        "message_id": message_id,
                        "correlation_id": message_id,
                        "type": registry.type_for(key),
                        "app_id": registry.producer_for(key),
                        "content_type": "application/json",
                        "timestamp": 1_700_000_000,
                        "headers": {"x-schema-version": "1"},
                    },
                )

        work = [q for name in queues for q in (name, *(f"{name}.retry.{n}" for n in (1, 2, 3)))]

        def settled() -> bool:
            stats = requests.get(health, timeout=5).json()["consumer"]
            in_flight = (
                stats["delivered"] - stats["acked"] - stats["retried"] - stats["dead_lettered"]
            )
            return in_flight == 0 and not any(depths(sandbox_declared_vhost.url, work).values())

        wait_for(
            settled,
            timeout=60,
            what=f"{service} to settle every message",
            seen=lambda: requests.get(health, timeout=5).json()["consumer"],
        )
        wait_for(settled, timeout=10, what="a second settled reading")

        dead = {
            m.properties.get("message_id"): m
            for q in queues
            for m in peek(sandbox_declared_vhost.url, f"{q}.dlq", limit=10_000)
        }
        for message_id, key in invalid.items():
            assert message_id in dead, f"invalid {key} message {message_id} not dead-lettered"
            headers = dead[message_id].headers
            assert headers["x-dead-letter-reason"] in ("schema-violation", "invalid-json")
            assert headers["x-attempt"] == 1, "an invalid message must not burn retries"
        for message in valid:
            if message.message_id in dead:
                reason = dead[message.message_id].headers["x-dead-letter-reason"]
                assert reason not in ("schema-violation", "invalid-json"), (
                    f"valid {message.routing_key} refused by contract: "
                    f"{dead[message.message_id].headers.get('x-exception-message')}"
                )
        assert consumer.running(), "the consumer process crashed"
        assert requests.get(health, timeout=5).status_code == 200
    finally:
        consumer.stop()
