"""Idempotency-Key with Stripe's semantics: replay, mismatch error, expiry."""

from __future__ import annotations

import pytest
import stripe

PARAMS = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


def create(client: stripe.StripeClient, key: str, **changes: object) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={**PARAMS, **changes}, options={"idempotency_key": key}
    )


def test_same_key_and_params_replays_the_first_response(client):
    first = create(client, "order-1")
    second = create(client, "order-1")
    assert second.id == first.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(client.v1.payment_intents.list().data) == 1


def test_replay_does_not_charge_twice(client):
    create(client, "order-2")
    create(client, "order-2")
    assert len(client.v1.charges.list().data) == 1


def test_same_key_with_different_params_is_idempotency_error(client):
    create(client, "order-3")
    with pytest.raises(stripe.IdempotencyError) as caught:
        create(client, "order-3", amount=2001)
    assert caught.value.http_status == 400
    assert "order-3" in caught.value.user_message


def test_same_key_on_another_endpoint_is_idempotency_error(client):
    intent = create(client, "order-4")
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create(
            params={"payment_intent": intent.id}, options={"idempotency_key": "order-4"}
        )


def test_declined_payment_is_replayed_as_the_same_decline(client):
    with pytest.raises(stripe.CardError) as first:
        create(client, "order-5", payment_method="pm_card_chargeDeclined")
    with pytest.raises(stripe.CardError) as second:
        create(client, "order-5", payment_method="pm_card_chargeDeclined")
    assert first.value.error.payment_intent.id == second.value.error.payment_intent.id
    assert second.value.headers.get("Idempotent-Replayed") == "true"


def test_keys_are_scoped_per_api_key(provider):
    body = {"amount": "100", "currency": "usd"}
    headers = {"Idempotency-Key": "shared"}
    a = provider.api("POST", "/v1/payment_intents", data=body, headers=headers).json()
    b = provider.http.post(
        f"{provider.base_url}/v1/payment_intents",
        data=body,
        headers={**headers, "Authorization": "Bearer sk_test_another_key_123"},
        timeout=10,
    ).json()
    assert a["id"] != b["id"]


def test_key_expires_after_ttl_on_the_moved_clock(provider, client):
    first = create(client, "order-6")
    provider.control("POST", "/clock", {"advance_s": 24 * 3600 + 1})
    again = create(client, "order-6")
    assert again.id != first.id


def test_key_still_replays_just_before_ttl(provider, client):
    first = create(client, "order-7")
    provider.control("POST", "/clock", {"advance_s": 24 * 3600 - 60})
    assert create(client, "order-7").id == first.id


def test_request_failing_validation_does_not_use_up_the_key(client):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(
            params={"currency": "usd"}, options={"idempotency_key": "order-8"}
        )
    assert create(client, "order-8").status == "succeeded"
