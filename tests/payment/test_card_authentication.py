"""Cards whose issuer asks for 3D Secure: real processes, the mock provider.

The payment stays pending while the customer authenticates; the customer's answer is
given through the provider's control API (what Stripe's test authentication page does)
and the provider's signed webhook completes or fails the payment.
"""

from __future__ import annotations

import pytest

from tests.payment.support import EventLog, PaymentStack, Provider, card_body, new_id

pytestmark = pytest.mark.integration


def pay_asking_for_3ds(stack: PaymentStack, card: str = "3ds", **headers: str) -> dict:
    response = stack.post("/payment/process", card_body(new_id("BOOK"), card), **headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_a_card_asking_for_3ds_is_not_charged_and_the_payment_stays_pending(
    stack: PaymentStack, provider: Provider
):
    answer = pay_asking_for_3ds(stack)

    assert (answer["status"], answer["payment_status"]) == ("requires_action", "pending")
    assert answer["next_action"]["type"] == "use_stripe_sdk"
    assert answer["next_action"]["url"].endswith(
        f"/_control/payment_intents/{answer['payment_intent_id']}/authenticate"
    )
    assert answer["client_secret"].startswith(answer["payment_intent_id"])
    assert stack.status(answer["transaction_id"])["status"] == "pending"
    timeline = stack.get(f"/payment/{answer['transaction_id']}/timeline").json()["entries"]
    assert any("3D Secure" in (e["detail"] or "") for e in timeline)


def test_completed_authentication_completes_the_payment_through_the_webhook(
    stack: PaymentStack, provider: Provider, events: EventLog
):
    answer = pay_asking_for_3ds(stack)

    provider.client.authenticate(answer["payment_intent_id"])

    payment_id = answer["transaction_id"]
    assert stack.wait_status(payment_id, "completed")["error"] is None
    events.wait_for_types(stack.broker_url, payment_id, ["payment.created", "payment.completed"])


@pytest.mark.parametrize(
    ("card", "complete", "code", "words"),
    [
        ("3ds", False, "CARD_DECLINED", "failed authentication"),
        ("3ds_insufficient", True, "INSUFFICIENT_FUNDS", "insufficient funds"),
    ],
    ids=["authentication failed", "declined once authenticated"],
)
def test_a_failed_or_declined_authentication_fails_the_payment_through_the_webhook(
    stack: PaymentStack,
    provider: Provider,
    events: EventLog,
    card: str,
    complete: bool,
    code: str,
    words: str,
):
    answer = pay_asking_for_3ds(stack, card)

    provider.client.authenticate(answer["payment_intent_id"], complete=complete)

    payment_id = answer["transaction_id"]
    failed = stack.wait_status(payment_id, "failed")
    assert failed["error"]["code"] == code and words in failed["error"]["message"]
    assert failed["error"]["retryable"] is False
    events.wait_for_types(stack.broker_url, payment_id, ["payment.created", "payment.failed"])


def test_a_retry_with_the_same_key_answers_as_the_payment_now_is(
    stack: PaymentStack, provider: Provider
):
    key = {"Idempotency-Key": new_id("key")}
    body = card_body(new_id("BOOK"), "3ds")
    first = stack.post("/payment/process", body, **key)
    assert first.status_code == 202, first.text
    assert stack.post("/payment/process", body, **key).status_code == 202

    provider.client.authenticate(first.json()["payment_intent_id"])
    stack.wait_status(first.json()["transaction_id"], "completed")

    again = stack.post("/payment/process", body, **key)
    assert (again.status_code, again.json()["status"]) == (200, "success")
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
