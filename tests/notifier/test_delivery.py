"""Exactly-once notifications, merchant callbacks and the failure rules, end to end."""

from __future__ import annotations

import json
import uuid

import pytest

from mocks.clients import MerchantClient
from mocks.merchant.server import MockMerchantServer
from sandbox.contracts import ContractRegistry
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging import envelope as env
from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from sandbox.signing import verify
from sandbox.topology import Topology
from sandbox.waiting import wait_for
from tests.appointment.support import payment_event
from tests.notifier.support import Inbox, NotifierService, unique_email
from tests.service_support import MERCHANT_SECRET, EventTap, await_dead_letter, publish_altered

pytestmark = pytest.mark.integration


def callbacks(merchant: MockMerchantServer, payment_id: str) -> list[dict[str, object]]:
    return MerchantClient(merchant.url).callbacks(paymentId=payment_id)


def settled(notifier: NotifierService, before: int, count: int) -> None:
    wait_for(
        lambda: notifier.consumer_stats()["acked"] >= before + count,
        timeout=20,
        what=f"{count} more deliveries acked by the notifier",
        seen=notifier.consumer_stats,
    )


def test_same_payment_event_delivered_three_times_sends_one_email_and_one_callback(
    notifier: NotifierService,
    inbox: Inbox,
    merchant: MockMerchantServer,
    publisher: Publisher,
    notification_events: EventTap,
) -> None:
    recipient = unique_email()
    event = payment_event(
        "payment.completed",
        appointment_id="appt_789",
        tenant_id="tenant123",
        customerEmail=recipient,
    )
    payment_id = json.loads(event.body)["paymentId"]
    before = notifier.consumer_stats()["acked"]

    for _ in range(3):
        publisher.publish(event)
    settled(notifier, before, 3)

    assert len(inbox.messages(to=recipient)) == 1
    assert [c["outcome"] for c in callbacks(merchant, payment_id)] == ["accepted"]
    assert [a["status"] for a in notifier.audit(event_id=event.message_id)] == ["sent", "sent"]
    sent = wait_for(
        lambda: notification_events.matching("notification.sent", sourceEventId=event.message_id),
        timeout=20,
        what="notification.sent for both channels",
        seen=notification_events.poll,
    )
    wait_for(
        lambda: len(notification_events.matching(sourceEventId=event.message_id)) >= 2,
        timeout=20,
        what="both notification.sent events",
    )
    assert sorted(
        m.json()["channel"] for m in notification_events.matching(sourceEventId=event.message_id)
    ) == ["email", "webhook"]
    registry = ContractRegistry.load()
    assert registry.validate_delivered(sent[0]) == []


def test_merchant_failing_twice_gets_one_accepted_signed_callback_and_the_email_is_not_resent(
    notifier: NotifierService,
    inbox: Inbox,
    merchant: MockMerchantServer,
    publisher: Publisher,
) -> None:
    recipient = unique_email()
    flow = f"flow-{uuid.uuid4().hex}"
    event = payment_event(
        "payment.completed",
        appointment_id="appt_789",
        tenant_id="tenant123",
        correlation_id=flow,
        customerEmail=recipient,
    )
    payment_id = json.loads(event.body)["paymentId"]
    MerchantClient(merchant.url).fail(500, count=2)

    publisher.publish(event)

    accepted = wait_for(
        lambda: [c for c in callbacks(merchant, payment_id) if c["outcome"] == "accepted"],
        timeout=20,
        what=f"an accepted callback for {payment_id}",
        seen=lambda: callbacks(merchant, payment_id),
    )
    outcomes = [c["outcome"] for c in callbacks(merchant, payment_id)]
    assert outcomes == ["failed", "failed", "accepted"]
    [callback] = accepted
    headers = callback["headers"]
    assert isinstance(headers, dict)
    raw = str(callback["raw_body"]).encode()
    verify(MERCHANT_SECRET, raw, headers["X-Merchant-Signature"])  # raises if not valid
    assert headers["Idempotency-Key"] == event.message_id
    assert headers["X-Correlation-Id"] == flow
    assert json.loads(raw)["payment"]["paymentId"] == payment_id
    assert "customerEmail" not in json.loads(raw)["payment"]
    assert len(inbox.messages(to=recipient)) == 1
    webhook_attempts = notifier.audit(correlation_id=flow, channel="webhook")
    assert [(a["status"], a["attempt"]) for a in webhook_attempts] == [
        ("failed", 1),
        ("failed", 2),
        ("sent", 3),
    ]


def test_email_for_an_unknown_recipient_is_retried_then_dead_lettered_with_its_reason(
    notifier: NotifierService,
    publisher: Publisher,
    shared_vhost: Vhost,
    fast_topology: Topology,
    fast_broker: BrokerSettings,
    notification_events: EventTap,
) -> None:
    # No customerEmail in the event and no appointment.* event ever seen for it.
    event = payment_event(
        "payment.failed", appointment_id=f"appt_{uuid.uuid4().hex[:8]}", tenant_id="tenant123"
    )

    publisher.publish(event)

    dlq = fast_topology.queue(fast_broker.notifier_payment_queue).dlq
    dead = await_dead_letter(shared_vhost.url, dlq, event.message_id, timeout=30)
    assert dead.headers[env.EXCEPTION_CLASS_HEADER] == "DeliveryError"
    assert "RECIPIENT_UNKNOWN" in dead.headers[env.EXCEPTION_MESSAGE_HEADER]
    assert dead.headers[env.ATTEMPT_HEADER] == fast_topology.max_attempts
    email_attempts = notifier.audit(event_id=event.message_id, channel="email")
    assert [a["attempt"] for a in email_attempts] == [1, 2, 3, 4]
    assert {a["error"]["code"] for a in email_attempts} == {"RECIPIENT_UNKNOWN"}
    failed = wait_for(
        lambda: notification_events.matching("notification.failed", sourceEventId=event.message_id),
        timeout=20,
        what="notification.failed after the last attempt",
    )
    assert len(failed) == 1  # only the final attempt reports failure


def test_event_that_breaks_its_schema_is_dead_lettered_at_once_and_sends_nothing(
    notifier: NotifierService,
    inbox: Inbox,
    shared_vhost: Vhost,
    fast_topology: Topology,
    fast_broker: BrokerSettings,
) -> None:
    recipient = unique_email()
    good: OutgoingMessage = payment_event(
        "payment.completed", appointment_id="appt_789", tenant_id="tenant123"
    )

    publish_altered(
        shared_vhost.url,
        fast_topology.exchange.name,
        good,
        customerEmail=recipient,
        cardNumber="4111111111111111",  # never allowed
    )

    dlq = fast_topology.queue(fast_broker.notifier_payment_queue).dlq
    dead = await_dead_letter(shared_vhost.url, dlq, good.message_id, timeout=20)
    assert dead.headers[env.DEAD_LETTER_REASON_HEADER] == "schema-violation"
    assert dead.headers[env.ATTEMPT_HEADER] == 1
    assert inbox.messages(to=recipient) == []
    assert notifier.audit(event_id=good.message_id) == []
