"""Idempotency-Key, duplicate bookings, and what provider failures leave behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.payment.support import (
    EventLog,
    PaymentStack,
    Provider,
    card_body,
    free_port,
    new_id,
)

pytestmark = pytest.mark.integration

CONFIRM = "/v1/payment_intents/*/confirm"


def charges_of(provider: Provider, transaction_id: str, stack: PaymentStack) -> list[dict]:
    intent_id = stack_intent(stack, transaction_id, provider)
    listed = provider.stripe().v1.charges.list(params={"payment_intent": intent_id}).data
    return [c.to_dict() for c in listed]


def stack_intent(stack: PaymentStack, transaction_id: str, provider: Provider) -> str:
    """The provider intent of a payment, found by the metadata the service put on it."""
    listed = provider.stripe().v1.payment_intents.list(params={"limit": 100}).data
    for intent in (i.to_dict() for i in listed):
        if intent["metadata"].get("transaction_id") == transaction_id:
            return str(intent["id"])
    raise AssertionError(f"no provider intent for {transaction_id}")


def test_same_key_and_body_replays_the_first_response(stack: PaymentStack):
    tenant, key = new_id("tenant"), new_id("key")
    body = card_body(new_id("BOOK"))

    first = stack.post("/payment/process", body, **{"X-Tenant-Id": tenant, "Idempotency-Key": key})
    again = stack.post("/payment/process", body, **{"X-Tenant-Id": tenant, "Idempotency-Key": key})

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    listing = stack.get("/payments", **{"X-Tenant-Id": tenant}).json()
    assert listing["pagination"]["total"] == 1


def test_same_key_with_another_body_is_refused(stack: PaymentStack):
    tenant, key = new_id("tenant"), new_id("key")
    headers = {"X-Tenant-Id": tenant, "Idempotency-Key": key}
    stack.post("/payment/process", card_body(new_id("BOOK")), **headers)

    other = stack.post("/payment/process", card_body(new_id("BOOK"), amount=99.0), **headers)

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_second_payment_for_a_booking_is_a_duplicate_transaction(stack: PaymentStack):
    booking = new_id("BOOK")
    first = stack.post("/payment/process", card_body(booking))

    second = stack.post("/payment/process", card_body(booking, card="mastercard"))

    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "DUPLICATE_TRANSACTION"
    assert error["details"]["transaction_id"] == first.json()["transaction_id"]


def test_new_attempt_after_a_declined_card_is_allowed(stack: PaymentStack):
    booking = new_id("BOOK")
    declined = stack.post("/payment/process", card_body(booking, card="declined"))

    retried = stack.post("/payment/process", card_body(booking, card="visa"))

    assert declined.status_code == 400 and retried.status_code == 200, retried.text
    assert retried.json()["transaction_id"] != declined.json()["transaction_id"]


def test_concurrent_payments_for_one_booking_charge_it_once(stack: PaymentStack):
    booking, tenant = new_id("BOOK"), new_id("tenant")

    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda _: stack.post(
                    "/payment/process", card_body(booking), **{"X-Tenant-Id": tenant}
                ),
                range(8),
            )
        )

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 7, [r.text for r in responses]
    assert stack.get("/payments", **{"X-Tenant-Id": tenant}).json()["pagination"]["total"] == 1


def test_provider_error_gives_502_and_a_retry_with_the_key_completes_the_same_payment(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    clean_provider.fault(CONFIRM, error={"status": 500}, count=1)
    key, body = new_id("key"), card_body(new_id("BOOK"))

    failed = stack.post("/payment/process", body, **{"Idempotency-Key": key})

    assert failed.status_code == 502, failed.text
    assert failed.json()["error"]["code"] == "PAYMENT_GATEWAY_ERROR"
    assert failed.json()["error"]["details"]["retry_possible"] is True
    payment_id = failed.json()["transaction_id"]
    status = stack.status(payment_id)
    assert (status["status"], status["error"]["retryable"]) == ("failed", True)
    events.wait_for_types(stack.broker_url, payment_id, ["payment.created", "payment.failed"])

    retried = stack.post("/payment/process", body, **{"Idempotency-Key": key})

    assert retried.status_code == 200, retried.text
    assert retried.json()["transaction_id"] == payment_id
    events.wait_for_types(
        stack.broker_url, payment_id, ["payment.created", "payment.failed", "payment.completed"]
    )
    assert len(charges_of(clean_provider, payment_id, stack)) == 1


def test_timeout_after_the_provider_charged_completes_through_its_webhook(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    # The provider holds the confirm 3 s; the service gives up after 2 s (PROVIDER_TIMEOUT_S),
    # then the provider charges anyway and says so in a webhook.
    clean_provider.fault(CONFIRM, hang_s=3, count=1)
    key, body = new_id("key"), card_body(new_id("BOOK"))

    timed_out = stack.post("/payment/process", body, **{"Idempotency-Key": key})

    assert timed_out.status_code == 502, timed_out.text
    payment_id = timed_out.json()["transaction_id"]
    stack.wait_status(payment_id, "completed", timeout=20)
    events.wait_for_types(
        stack.broker_url, payment_id, ["payment.created", "payment.failed", "payment.completed"]
    )
    retried = stack.post("/payment/process", body, **{"Idempotency-Key": key})
    assert retried.status_code == 200 and retried.json()["transaction_id"] == payment_id
    assert len(charges_of(clean_provider, payment_id, stack)) == 1


def test_new_payment_after_a_gateway_failure_cancels_the_abandoned_intent_first(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    booking = new_id("BOOK")
    clean_provider.fault(CONFIRM, error={"status": 503}, count=1)
    abandoned = stack.post("/payment/process", card_body(booking)).json()["transaction_id"]

    fresh = stack.post("/payment/process", card_body(booking, card="mastercard"))

    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["transaction_id"] != abandoned
    intent = clean_provider.stripe().v1.payment_intents.retrieve(
        stack_intent(stack, abandoned, clean_provider)
    )
    assert intent.status == "canceled"
    assert stack.status(abandoned)["status"] == "cancelled"
    events.wait_for_types(
        stack.broker_url, abandoned, ["payment.created", "payment.failed", "payment.cancelled"]
    )


def test_unreachable_provider_gives_502_records_nothing_and_degrades_health(stack_factory):
    dead = stack_factory(
        "amqp://guest:guest@127.0.0.1:1/",
        relay=False,
        env={"PROVIDER_URL": f"http://127.0.0.1:{free_port()}"},
    )
    tenant = new_id("tenant")

    response = dead.post("/payment/process", card_body(new_id("BOOK")), **{"X-Tenant-Id": tenant})

    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "PAYMENT_GATEWAY_ERROR"
    assert dead.get("/payments", **{"X-Tenant-Id": tenant}).json()["payments"] == []
    answer = dead.get("/health")
    health = answer.json()
    assert answer.status_code == 503
    assert health["status"] == "degraded"
    assert health["checks"]["provider"]["ok"] is False
