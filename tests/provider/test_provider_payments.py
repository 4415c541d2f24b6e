"""Card payments through the official stripe SDK: success, declines, flows, cancel."""

from __future__ import annotations

import pytest
import stripe
from provider_support import API_KEY

CARD = {"exp_month": 12, "exp_year": 2040, "cvc": "123"}

DECLINES = [
    ("4000000000000002", "card_declined", "generic_decline"),
    ("4000000000009995", "card_declined", "insufficient_funds"),
    ("4000000000009987", "card_declined", "lost_card"),
    ("4000000000009979", "card_declined", "stolen_card"),
    ("4000000000006975", "card_declined", "card_velocity_exceeded"),
    ("4100000000000019", "card_declined", "fraudulent"),
    ("4000000000000341", "card_declined", "generic_decline"),
    ("4000000000000069", "expired_card", "expired_card"),
    ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
    ("4000000000000119", "processing_error", "processing_error"),
]

TOKENS = [
    ("pm_card_chargeDeclined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
    ("pm_card_chargeDeclinedProcessingError", "processing_error"),
    ("pm_card_chargeDeclinedLostCard", "lost_card"),
    ("pm_card_chargeDeclinedStolenCard", "stolen_card"),
    ("pm_card_chargeDeclinedFraudulent", "fraudulent"),
]


def card_pm(client: stripe.StripeClient, number: str) -> stripe.PaymentMethod:
    return client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, **CARD}}
    )


def pay(
    client: stripe.StripeClient, payment_method: str, amount: int = 2550
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {"booking_id": "BOOK-789012"},
        }
    )


def test_card_payment_with_raw_card_succeeds(client):
    pm = card_pm(client, "4242424242424242")
    intent = pay(client, pm.id)
    assert intent.status == "succeeded"
    assert intent.amount_received == 2550
    assert intent.metadata["booking_id"] == "BOOK-789012"
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.status == "succeeded" and charge.paid and charge.captured


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
    ],
)
def test_seed_003_success_cards_succeed(client, number, brand):
    pm = card_pm(client, number)
    assert pm.card.brand == brand
    assert pay(client, pm.id).status == "succeeded"


def test_payment_method_keeps_only_last4_brand_and_expiry(provider, client):
    pm = card_pm(client, "4242424242424242")
    raw = provider.api("GET", f"/v1/payment_methods/{pm.id}").text
    assert pm.card.last4 == "4242" and pm.card.exp_month == 12 and pm.card.exp_year == 2040
    assert "4242424242424242" not in raw
    assert '"123"' not in raw and 'cvc": "123' not in raw


@pytest.mark.parametrize(("number", "code", "decline_code"), DECLINES)
def test_declined_card_returns_its_decline_code(client, number, code, decline_code):
    pm = card_pm(client, number)
    with pytest.raises(stripe.CardError) as caught:
        pay(client, pm.id)
    error = caught.value
    assert error.http_status == 402
    assert error.code == code
    assert error.error.decline_code == decline_code
    intent = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == decline_code
    assert client.v1.charges.retrieve(intent.latest_charge).status == "failed"


@pytest.mark.parametrize(("token", "decline_code"), TOKENS)
def test_decline_test_token_returns_its_decline_code(client, token, decline_code):
    with pytest.raises(stripe.CardError) as caught:
        pay(client, token)
    assert caught.value.error.decline_code == decline_code


def test_pm_card_visa_token_pays_and_becomes_a_new_payment_method(client):
    intent = pay(client, "pm_card_visa")
    assert intent.status == "succeeded"
    assert intent.payment_method.startswith("pm_") and intent.payment_method != "pm_card_visa"
    assert client.v1.payment_methods.retrieve(intent.payment_method).card.last4 == "4242"


def test_card_number_failing_luhn_is_incorrect_number(client):
    with pytest.raises(stripe.CardError) as caught:
        card_pm(client, "4242424242424241")
    assert caught.value.code == "incorrect_number"
    assert caught.value.param == "number"


def test_card_expired_by_date_is_refused_on_creation(client):
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2001},
            }
        )
    assert caught.value.code == "invalid_expiry_year"
    assert caught.value.param == "exp_year"


def test_create_then_confirm_returns_client_secret_and_succeeds(client):
    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "eur"})
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    confirmed = client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa"}
    )
    assert confirmed.status == "succeeded"
    assert confirmed.currency == "eur"


def test_payment_method_on_create_waits_for_confirmation(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_mastercard"}
    )
    assert intent.status == "requires_confirmation"
    assert client.v1.payment_intents.confirm(intent.id).status == "succeeded"


def test_declined_intent_can_be_retried_with_another_card(client):
    with pytest.raises(stripe.CardError) as caught:
        pay(client, "pm_card_chargeDeclined")
    intent_id = caught.value.error.payment_intent.id
    retried = client.v1.payment_intents.confirm(
        intent_id, params={"payment_method": "pm_card_visa"}
    )
    assert retried.status == "succeeded"
    assert retried.last_payment_error is None


def test_confirming_a_succeeded_intent_is_refused(client):
    intent = pay(client, "pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"


def test_cancel_sets_canceled_with_reason(client):
    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert canceled.canceled_at is not None


def test_cancel_of_succeeded_intent_is_refused(client):
    intent = pay(client, "pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.cancel(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"
    assert "succeeded" in caught.value.user_message


def test_manual_capture_holds_then_captures(client):
    intent = client.v1.payment_intents.create(
        params={
            "amount": 3000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
        }
    )
    assert intent.status == "requires_capture" and intent.amount_capturable == 3000
    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 2000})
    assert captured.status == "succeeded" and captured.amount_received == 2000


def test_list_pages_newest_first_with_cursor(client):
    ids = [
        client.v1.payment_intents.create(params={"amount": 100 + i, "currency": "usd"}).id
        for i in range(5)
    ]
    first = client.v1.payment_intents.list(params={"limit": 2})
    assert [pi.id for pi in first.data] == ids[::-1][:2]
    assert first.has_more
    every = [pi.id for pi in client.v1.payment_intents.list(params={"limit": 2}).auto_paging_iter()]
    assert every == ids[::-1]


def test_retrieve_expands_latest_charge(client):
    intent = pay(client, "pm_card_visa")
    expanded = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert expanded.latest_charge.object == "charge"
    assert expanded.latest_charge.payment_method_details.card.last4 == "4242"


def test_module_level_sdk_style_works(provider, monkeypatch):
    """The payment service may use stripe.PaymentIntent.create(...) with stripe.api_base."""
    monkeypatch.setattr(stripe, "api_key", API_KEY)
    monkeypatch.setattr(stripe, "api_base", provider.base_url)
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(session=provider.http))
    intent = stripe.PaymentIntent.create(
        amount=1234,
        currency="usd",
        payment_method="pm_card_visa",
        confirm=True,
        metadata={"order": "1"},
        idempotency_key="legacy-style-1",
    )
    assert intent.status == "succeeded"
    assert stripe.PaymentIntent.retrieve(intent.id).amount == 1234
    assert any(pi.id == intent.id for pi in stripe.PaymentIntent.list(limit=3).data)


def publishable_client(provider) -> stripe.StripeClient:
    return stripe.StripeClient(
        "pk_test_browser_key_123",
        base_addresses={"api": provider.base_url},
        http_client=stripe.RequestsClient(session=provider.http),
    )


def test_browser_confirms_with_publishable_key_and_client_secret(provider, client):
    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    browser = publishable_client(provider)
    confirmed = browser.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa", "client_secret": intent.client_secret}
    )
    assert confirmed.status == "succeeded"


def test_publishable_key_without_client_secret_is_refused(provider, client):
    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        publishable_client(provider).v1.payment_intents.confirm(
            intent.id, params={"payment_method": "pm_card_visa"}
        )
    assert caught.value.param == "client_secret"


def test_publishable_key_cannot_list_payment_intents(provider):
    with pytest.raises(stripe.PermissionError):
        publishable_client(provider).v1.payment_intents.list()


def confirm_with_card(
    client: stripe.StripeClient, number: str, **card: object
) -> stripe.PaymentIntent:
    """Open an intent and confirm it with the card itself (``payment_method_data``)."""
    intent = client.v1.payment_intents.create(params={"amount": 2550, "currency": "usd"})
    return client.v1.payment_intents.confirm(
        intent.id,
        params={
            "payment_method_data": {
                "type": "card",
                "card": {"number": number, **CARD, **card},
                "billing_details": {"name": "Ada Lovelace"},
            },
            "expand": ["payment_method"],
        },
    )


def test_confirm_with_payment_method_data_charges_a_new_payment_method(client):
    confirmed = confirm_with_card(client, "5555555555554444")
    assert confirmed.status == "succeeded"
    method = confirmed.payment_method
    assert method.id.startswith("pm_")
    assert (method.card.brand, method.card.last4) == ("mastercard", "4444")
    assert method.billing_details.name == "Ada Lovelace"
    assert client.v1.payment_methods.retrieve(method.id).card.last4 == "4444"


def test_confirm_with_payment_method_data_of_a_declining_card_names_the_method(client):
    with pytest.raises(stripe.CardError) as caught:
        confirm_with_card(client, "4000000000009995")
    error = caught.value.error
    assert error.decline_code == "insufficient_funds"
    assert error.payment_method.card.last4 == "9995"
    assert error.payment_intent.status == "requires_payment_method"


def test_confirm_with_payment_method_data_checks_the_card_as_creation_does(client):
    with pytest.raises(stripe.CardError) as caught:
        confirm_with_card(client, "4242424242424241")
    assert (caught.value.code, caught.value.param) == ("incorrect_number", "number")
    with pytest.raises(stripe.CardError) as caught:
        confirm_with_card(client, "4242424242424242", exp_month=1, exp_year=2001)
    assert (caught.value.code, caught.value.param) == ("invalid_expiry_year", "exp_year")


CARD_NUMBER_ONLY = {"number": "4242424242424242"}


def refused_confirm(client, intent_id, params) -> stripe.InvalidRequestError:
    """The error a confirm of ``intent_id`` with ``params`` is refused with."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(intent_id, params=params)
    return caught.value


def test_confirm_with_payment_method_data_names_a_missing_card_field(client):
    intent = client.v1.payment_intents.create(params={"amount": 2550, "currency": "usd"})
    refused = refused_confirm(
        client, intent.id, {"payment_method_data": {"type": "card", "card": CARD_NUMBER_ONLY}}
    )
    assert refused.code == "parameter_missing"
    assert refused.param == "payment_method_data[card][exp_month]"
    refused = refused_confirm(
        client, intent.id, {"payment_method_data": {"card": CARD_NUMBER_ONLY}}
    )
    assert refused.param == "payment_method_data[type]"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_confirm_with_both_payment_method_and_its_data_is_refused(client):
    intent = client.v1.payment_intents.create(params={"amount": 2550, "currency": "usd"})
    refused = refused_confirm(
        client,
        intent.id,
        {
            "payment_method": "pm_card_visa",
            "payment_method_data": {"type": "card", "card": CARD_NUMBER_ONLY},
        },
    )
    assert refused.param == "payment_method_data"
