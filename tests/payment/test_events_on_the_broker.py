"""Each state change publishes exactly its events, in order, observed on a real broker."""

from __future__ import annotations

import pytest

from tests.payment.support import (
    EventLog,
    PaymentStack,
    card_body,
    contract_violations,
    new_id,
)

pytestmark = pytest.mark.integration


def test_card_payment_publishes_created_then_completed_with_seed_000_fields(
    stack: PaymentStack, events: EventLog
):
    booking, tenant, correlation = new_id("BOOK"), new_id("tenant"), new_id("flow")
    body = card_body(booking, amount=75.0, user_id="cust_456", customer_email="ada@example.com")
    response = stack.post(
        "/payment/process", body, **{"X-Tenant-Id": tenant, "X-Correlation-Id": correlation}
    )
    assert response.status_code == 200, response.text
    payment_id = response.json()["transaction_id"]

    got = events.wait_for_types(
        stack.broker_url, payment_id, ["payment.created", "payment.completed"]
    )

    created, completed = (m.json() for m in got)
    assert completed == {
        "type": "PAYMENT_COMPLETED",
        "tenantId": tenant,
        "paymentId": payment_id,
        "appointmentId": booking,
        "customerId": "cust_456",
        "amount": 75.0,
        "currency": "USD",
        "status": "succeeded",
        "timestamp": completed["timestamp"],
        "customerEmail": "ada@example.com",
    }
    assert created["type"] == "PAYMENT_CREATED" and created["status"] == "pending"
    for message in got:
        props = message.properties
        assert props["correlation_id"] == correlation
        assert props["app_id"] == "payment-service"
        assert props["delivery_mode"] == 2
        assert props["content_type"] == "application/json"
        assert props["headers"]["x-schema-version"] == "1"
        assert props["type"] == message.json()["type"]
    assert contract_violations(got) == []


def test_declined_card_publishes_created_then_failed_with_the_error(
    stack: PaymentStack, events: EventLog
):
    response = stack.post("/payment/process", card_body(new_id("BOOK"), card="insufficient"))
    assert response.status_code == 400, response.text
    payment_id = response.json()["transaction_id"]

    got = events.wait_for_types(stack.broker_url, payment_id, ["payment.created", "payment.failed"])

    failed = got[1].json()
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": "INSUFFICIENT_FUNDS",
        "message": "Your card has insufficient funds.",
    }
    assert contract_violations(got) == []


def test_partial_then_final_refund_publish_partial_then_full_refund_events(
    stack: PaymentStack, events: EventLog
):
    booking = new_id("BOOK")
    paid = stack.post("/payment/process", card_body(booking, amount=100.0)).json()
    payment_id = paid["transaction_id"]
    refund = {
        "booking_id": booking,
        "original_transaction_id": payment_id,
        "reason": "Customer cancellation",
        "user_id": "user_123",
    }

    first = stack.post("/payment/refund", {**refund, "refund_amount": 30.0})
    second = stack.post("/payment/refund", {**refund, "refund_amount": 70.0})

    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    got = events.wait_for_types(
        stack.broker_url,
        payment_id,
        ["payment.created", "payment.completed", "payment.refunded", "payment.refunded"],
    )
    partial, full = got[2].json(), got[3].json()
    assert (partial["refundType"], partial["status"], partial["refundedAmount"]) == (
        "partial",
        "partially_refunded",
        30.0,
    )
    assert (full["refundType"], full["status"], full["refundedAmount"]) == (
        "full",
        "refunded",
        70.0,
    )
    assert partial["refundId"] == first.json()["refund_transaction_id"]
    assert full["reason"] == "Customer cancellation"
    assert partial["amount"] == full["amount"] == 100.0
    assert contract_violations(got) == []


def test_cancelled_intent_publishes_created_then_cancelled_with_the_reason(
    stack: PaymentStack, events: EventLog
):
    intent = stack.post(
        "/payment/intents", {"user_id": "user_1", "booking_id": new_id("BOOK"), "amount": 40}
    ).json()
    payment_id = intent["transaction_id"]

    response = stack.post(f"/payment/{payment_id}/cancel", {"reason": "customer changed plans"})

    assert response.status_code == 200, response.text
    got = events.wait_for_types(
        stack.broker_url, payment_id, ["payment.created", "payment.cancelled"]
    )
    assert got[1].json()["reason"] == "customer changed plans"
    assert got[1].json()["status"] == "cancelled"
    assert contract_violations(got) == []
