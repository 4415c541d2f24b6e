"""Refunds through the stripe SDK: full, partial, and never more than was captured."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def paid(client: stripe.StripeClient) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )


def test_full_refund_refunds_the_whole_charge(client, paid):
    refund = client.v1.refunds.create(params={"payment_intent": paid.id})
    assert refund.status == "succeeded" and refund.amount == 5000
    charge = client.v1.charges.retrieve(paid.latest_charge)
    assert charge.refunded and charge.amount_refunded == 5000


def test_partial_refunds_add_up_to_the_captured_amount(client, paid):
    first = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 2000})
    second = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 3000})
    assert (first.amount, second.amount) == (2000, 3000)
    charge = client.v1.charges.retrieve(paid.latest_charge)
    assert charge.amount_refunded == 5000 and charge.refunded
    listed = client.v1.refunds.list(params={"payment_intent": paid.id})
    assert {r.id for r in listed.data} == {first.id, second.id}


def test_partial_refund_leaves_charge_not_fully_refunded(client, paid):
    client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 1000})
    charge = client.v1.charges.retrieve(paid.latest_charge)
    assert charge.amount_refunded == 1000 and not charge.refunded


def test_over_refund_is_refused_naming_amount(client, paid):
    client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 4000})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 1001})
    assert caught.value.code == "amount_too_large"
    assert caught.value.param == "amount"
    assert client.v1.charges.retrieve(paid.latest_charge).amount_refunded == 4000


def test_refund_of_fully_refunded_charge_is_already_refunded(client, paid):
    client.v1.refunds.create(params={"payment_intent": paid.id})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": paid.id})
    assert caught.value.code == "charge_already_refunded"


def test_refund_of_unpaid_intent_is_refused(client):
    intent = client.v1.payment_intents.create(params={"amount": 5000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert caught.value.code == "payment_intent_unexpected_state"
    assert caught.value.param == "payment_intent"


def test_refund_by_charge_id_works(client, paid):
    refund = client.v1.refunds.create(params={"charge": paid.latest_charge, "amount": 100})
    assert refund.payment_intent == paid.id


def test_refund_without_target_names_payment_intent(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"amount": 100})
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "payment_intent"
