"""Seed 004's flow: an intent, the client confirming it at the provider, signed webhooks.

The client side is played by the official stripe SDK talking to the mock provider, as a
browser with Stripe.js would; the provider then delivers signed webhooks to the service.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import stripe

from sandbox.signing import sign
from sandbox.waiting import wait_for
from tests.payment.support import (
    WEBHOOK_SECRET,
    EventLog,
    PaymentStack,
    Provider,
    new_id,
    unique,
)

pytestmark = pytest.mark.integration


def provider_events(provider: Provider, intent_id: str) -> list[dict]:
    """The provider's events about one intent (and its charges), as plain dicts."""
    listed = provider.stripe().v1.events.list(params={"limit": 100}).data
    events = [e.to_dict() for e in listed]
    return [
        e
        for e in events
        if intent_id in (e["data"]["object"].get("id"), e["data"]["object"].get("payment_intent"))
    ]


def open_intent(stack: PaymentStack, amount: float = 40.0, **headers: str) -> dict:
    response = stack.post(
        "/payment/intents",
        {"user_id": "user_7", "booking_id": new_id("BOOK"), "amount": amount},
        **headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def confirm(provider: Provider, intent: dict, payment_method: str) -> None:
    provider.stripe().v1.payment_intents.confirm(
        intent["payment_intent_id"], params={"payment_method": payment_method}
    )


def test_intent_returns_a_client_secret_and_stays_pending(stack: PaymentStack):
    intent = open_intent(stack)
    assert intent["client_secret"].startswith(intent["payment_intent_id"])
    assert intent["status"] == "pending"
    assert stack.status(intent["transaction_id"])["flow"] == "intent"


def test_confirmed_intent_completes_through_the_webhook(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    intent = open_intent(stack)

    confirm(clean_provider, intent, "pm_card_visa")

    stack.wait_status(intent["transaction_id"], "completed")
    events.wait_for_types(
        stack.broker_url, intent["transaction_id"], ["payment.created", "payment.completed"]
    )


def test_declined_attempt_then_success_fails_then_completes_the_payment(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    intent = open_intent(stack)
    with pytest.raises(stripe.CardError):
        confirm(clean_provider, intent, "pm_card_chargeDeclinedInsufficientFunds")
    failed = stack.wait_status(intent["transaction_id"], "failed")
    assert failed["error"]["code"] == "INSUFFICIENT_FUNDS"

    confirm(clean_provider, intent, "pm_card_visa")

    stack.wait_status(intent["transaction_id"], "completed")
    events.wait_for_types(
        stack.broker_url,
        intent["transaction_id"],
        ["payment.created", "payment.failed", "payment.completed"],
    )


def test_duplicated_and_reordered_webhooks_change_the_payment_once(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    clean_provider.webhook_faults(
        duplicate={"probability": 1.0, "copies": 2}, reorder={"probability": 0.5, "hold_ms": 300}
    )
    intent = open_intent(stack)
    with pytest.raises(stripe.CardError):
        confirm(clean_provider, intent, "pm_card_chargeDeclined")
    confirm(clean_provider, intent, "pm_card_visa")

    stack.wait_status(intent["transaction_id"], "completed")
    # Every copy of every event was delivered (and acknowledged) before we count.
    event_ids = {e["id"] for e in provider_events(clean_provider, intent["payment_intent_id"])}
    pending = ("scheduled", "held", "retrying", "delivering")
    wait_for(
        lambda: (
            not [
                d
                for d in clean_provider.deliveries()
                if d["event_id"] in event_ids and d["status"] in pending
            ]
        ),
        timeout=15,
        what="every delivery of the intent's events",
    )
    copies = [d for d in clean_provider.deliveries() if d["event_id"] in event_ids]
    assert len(copies) >= 3 * len(event_ids)

    def settled() -> list[str] | None:
        events.collect(stack.broker_url)
        keys = [m.routing_key for m in unique(events.for_payment(intent["transaction_id"]))]
        return keys if keys and keys[-1] == "payment.completed" else None

    collected = wait_for(settled, timeout=15, what="the payment's events up to completed")
    # However the copies arrived, the payment ends completed with one event per change.
    # The decline is reported only when its webhook was checked before the second attempt
    # succeeded at the provider; checked later, it is stale and changes nothing.
    assert collected in (
        ["payment.created", "payment.completed"],
        ["payment.created", "payment.failed", "payment.completed"],
    ), collected
    # one timeline entry per distinct event (payment_intent.created may come before the
    # payment row exists and is then acknowledged as not ours)
    timeline = stack.get(f"/payment/{intent['transaction_id']}/timeline").json()["entries"]
    seen = {e["detail"].split()[1].rstrip(":") for e in timeline if e["kind"] == "webhook"}
    created = {
        e["id"]
        for e in provider_events(clean_provider, intent["payment_intent_id"])
        if e["type"] == "payment_intent.created"
    }
    assert event_ids - created <= seen <= event_ids


def _genuine_success_event(provider: Provider, stack: PaymentStack) -> tuple[dict, bytes]:
    """A real payment_intent.succeeded event the provider never delivered (all lost)."""
    provider.webhook_faults(loss={"probability": 1.0})
    intent = open_intent(stack)
    confirm(provider, intent, "pm_card_visa")
    found = [
        e
        for e in provider_events(provider, intent["payment_intent_id"])
        if e["type"] == "payment_intent.succeeded"
    ]
    assert len(found) == 1
    return intent, json.dumps(found[0], indent=2).encode()


def _post_webhook(stack: PaymentStack, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return requests.post(f"{stack.url}/payment/webhook", data=body, headers=headers, timeout=10)


ATTACKS = {
    "no signature": lambda body: (body, None, "WEBHOOK_SIGNATURE_MISSING"),
    "bad signature": lambda body: (
        body,
        f"t={int(time.time())},v1={'0' * 64}",
        "WEBHOOK_SIGNATURE_INVALID",
    ),
    "wrong secret": lambda body: (
        body,
        sign("whsec_someone_else", body),
        "WEBHOOK_SIGNATURE_INVALID",
    ),
    "tampered body": lambda body: (
        body.replace(b'"amount": 4000', b'"amount": 1'),
        sign(WEBHOOK_SECRET, body),
        "WEBHOOK_SIGNATURE_INVALID",
    ),
    "stale timestamp": lambda body: (
        body,
        sign(WEBHOOK_SECRET, body, int(time.time()) - 3600),
        "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
    ),
    "timestamp ten minutes ahead": lambda body: (
        body,
        sign(WEBHOOK_SECRET, body, int(time.time()) + 600),
        "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
    ),
    "replay of an old delivery": lambda body: (
        body,
        sign(WEBHOOK_SECRET, body, int(time.time()) - 301),
        "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
    ),
}


def test_webhook_attacks_are_refused_without_any_state_change(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    intent, body = _genuine_success_event(clean_provider, stack)
    payment_id = intent["transaction_id"]

    for name, attack in ATTACKS.items():
        sent, signature, code = attack(body)
        response = _post_webhook(stack, sent, signature)
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"]["code"] == code, name

    assert stack.status(payment_id)["status"] == "pending"
    timeline = stack.get(f"/payment/{payment_id}/timeline").json()["entries"]
    assert [e["kind"] for e in timeline if e["kind"] == "webhook"] == []
    events.collect(stack.broker_url)
    assert [m.routing_key for m in events.for_payment(payment_id)] == ["payment.created"]
    # the same event, properly signed, is what completes the payment
    accepted = _post_webhook(stack, body, sign(WEBHOOK_SECRET, body))
    assert accepted.json()["outcome"] == "completed"
    replayed = _post_webhook(stack, body, sign(WEBHOOK_SECRET, body))
    assert replayed.json()["outcome"] == "duplicate"
    events.wait_for_types(stack.broker_url, payment_id, ["payment.created", "payment.completed"])


@pytest.mark.parametrize("offset_s", [-3600, 3600], ids=["behind", "ahead"])
def test_delivery_signed_by_a_provider_clock_an_hour_off_is_refused(
    stack: PaymentStack, clean_provider: Provider, offset_s: int
):
    intent = open_intent(stack)
    clean_provider.control("POST", "/clock", {"advance_s": offset_s})

    confirm(clean_provider, intent, "pm_card_visa")

    refused = wait_for(
        lambda: [
            d
            for d in clean_provider.deliveries(event_type="payment_intent.succeeded")
            if d["attempts"]
            and d["attempts"][0]["status"] == 400
            and d["url"].startswith(stack.url)
        ],
        timeout=10,
        what="the stale delivery to be refused",
    )
    assert refused
    assert stack.status(intent["transaction_id"])["status"] == "pending"
