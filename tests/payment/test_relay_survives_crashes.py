"""The outbox relay loses nothing and reorders nothing: SIGKILL of itself, broker restarts."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from sandbox.broker import Admin, LocalNode
from sandbox.messaging import ensure_topology
from sandbox.messaging.tools import depths, drain
from sandbox.services.common.db import normalise_url
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for
from tests.payment.support import EventLog, PaymentStack, card_body, new_id, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def pay_many(stack: PaymentStack, count: int) -> list[str]:
    cards = ["visa", "declined", "mastercard", "insufficient"]

    def pay(n: int) -> str:
        body = card_body(new_id("BOOK"), card=cards[n % len(cards)])
        response = stack.post("/payment/process", body)
        assert response.status_code in (200, 400), response.text
        return str(response.json()["transaction_id"])

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(pay, range(count)))


def outbox_rows(stack: PaymentStack) -> list[tuple[str, str]]:
    """(payment id, message id) of every outbox row, in insertion order."""
    engine = create_engine(normalise_url(stack.database.url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT aggregate_id, message_id FROM payment_outbox ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    return [(row[0], row[1]) for row in rows]


def outbox_pending(stack: PaymentStack) -> int:
    return int(stack.get("/health").json()["outbox"]["pending"])


def wait_until_relayed(stack: PaymentStack, timeout: float = 60) -> None:
    wait_for(
        lambda: outbox_pending(stack) == 0,
        timeout=timeout,
        what="the outbox to be fully relayed",
        seen=lambda: outbox_pending(stack),
    )


def assert_every_event_once_in_order(stack: PaymentStack, received: list) -> None:
    """Every outbox row arrived; after de-duplication each payment's events are in the
    order they were written.  (Across payments, PostgreSQL may commit concurrent
    transactions out of id order, so only each payment's own order is promised.)"""
    rows = outbox_rows(stack)
    delivered = unique(received)
    assert sorted(str(m.properties["message_id"]) for m in delivered) == sorted(
        message_id for _, message_id in rows
    )
    written: dict[str, list[str]] = {}
    for payment_id, message_id in rows:
        written.setdefault(payment_id, []).append(message_id)
    for payment_id, payment_events in _by_payment(delivered).items():
        assert [str(m.properties["message_id"]) for m in payment_events] == written[payment_id]
        keys = [m.routing_key for m in payment_events]
        assert keys in (
            ["payment.created", "payment.completed"],
            ["payment.created", "payment.failed"],
        ), keys


def _by_payment(messages: list) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for message in messages:
        grouped.setdefault(message.json()["paymentId"], []).append(message)
    return grouped


def test_relay_killed_between_commit_and_publish_delivers_every_event_once_in_order(
    stack_factory, sandbox_declared_vhost, events: EventLog
):
    stack = stack_factory(sandbox_declared_vhost.url, env={"PAYMENT_RELAY_BATCH_SIZE": "10"})
    relay = stack.relay_process()
    relay.kill()  # SIGKILL: from now on events are committed and nobody publishes them

    pay_many(stack, 60)

    assert depths(stack.broker_url, ["payment_events"]) == {"payment_events": 0}
    assert outbox_pending(stack) == 120
    relay.start()
    # Kill it again in the middle of relaying, when some but not all are out.
    wait_for(
        lambda: depths(stack.broker_url, ["payment_events"])["payment_events"] > 0,
        timeout=30,
        what="the restarted relay to publish",
    )
    relay.kill()
    relay.start()
    wait_until_relayed(stack)

    received = drain(stack.broker_url, "payment_events")
    events.messages.extend(received)
    assert_every_event_once_in_order(stack, received)


@pytest.fixture(scope="module")
def restartable_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """A private node this module may kill and start (one boot for both backends)."""
    node = LocalNode(tmp_path_factory.mktemp("payment-node") / "node").start()
    try:
        yield node
    finally:
        node.kill()


def test_relay_reconnects_after_the_broker_is_killed_and_loses_nothing(
    stack_factory, restartable_node: LocalNode, events: EventLog
):
    node = restartable_node
    vhost = new_id("restart")
    Admin(node.management_url).create_vhost(vhost)
    url = node.url_for(vhost)
    ensure_topology(url, build(BrokerSettings()))
    stack = stack_factory(url)
    pay_many(stack, 10)
    wait_until_relayed(stack)

    node.kill()
    wait_for(
        lambda: stack.relay_health().status_code == 503,
        timeout=30,
        what="the relay to report the broker down",
    )
    assert stack.relay_health().json()["checks"]["broker"]["ok"] is False
    pay_many(stack, 10)  # committed while the broker is down
    assert outbox_pending(stack) > 0
    node.start()
    wait_for(
        lambda: stack.relay_health().status_code == 200,
        timeout=60,
        what="the relay to reconnect",
        seen=lambda: stack.relay_health().json(),
    )
    pay_many(stack, 10)
    wait_until_relayed(stack)

    received = drain(url, "payment_events")
    events.messages.extend(received)
    assert_every_event_once_in_order(stack, received)
