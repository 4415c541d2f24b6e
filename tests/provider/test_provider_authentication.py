"""3D Secure through the official stripe SDK: requires_action, the customer's answer
through the control API, and the webhooks each outcome emits."""

from __future__ import annotations

import pytest
import stripe
from provider_support import RunningProvider
from test_provider_payments import card_pm

from mocks.clients import MockError

ASKING = [
    "4000002500003155",
    "4000002760003184",
    "4000003800000446",
    "4000000000003220",
    "4000000000003063",
]


def confirmed(client: stripe.StripeClient, pm: str, **params) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "eur", "payment_method": pm, "confirm": True, **params}
    )


@pytest.mark.parametrize("number", ASKING)
def test_a_3ds_card_leaves_the_intent_requiring_action_and_charges_nothing(client, number):
    pi = confirmed(client, card_pm(client, number).id)

    assert pi.status == "requires_action"
    assert pi.next_action is not None and pi.next_action.type == "use_stripe_sdk"
    assert pi.latest_charge is None and pi.amount_received == 0
    assert client.v1.charges.list(params={"payment_intent": pi.id}).data == []


def test_a_return_url_makes_the_next_action_a_redirect_to_the_authentication(provider, client):
    pi = confirmed(client, "pm_card_authenticationRequired", return_url="https://shop.test/back")

    redirect = pi.next_action.redirect_to_url
    assert pi.next_action.type == "redirect_to_url"
    assert redirect.return_url == "https://shop.test/back"
    assert redirect.url == f"{provider.base_url}/_control/payment_intents/{pi.id}/authenticate"
    assert provider.http.get(redirect.url, timeout=5).json()["status"] == "requires_action"


def test_completing_the_authentication_charges_the_card(provider, client, receiver):
    pi = confirmed(client, "pm_card_threeDSecure2Required")

    done = provider.client.authenticate(pi.id)

    assert (done["status"], done["next_action"]) == ("succeeded", None)
    assert done["amount_received"] == 2500
    receiver.wait_for_types(["payment_intent.requires_action", "payment_intent.succeeded"])
    kinds = [t for t in receiver.accepted_types() if t.startswith(("payment_intent", "charge"))]
    assert kinds == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


def test_failing_the_authentication_asks_for_another_payment_method(provider, client, receiver):
    pi = confirmed(client, "pm_card_authenticationRequired")

    failed = provider.client.authenticate(pi.id, complete=False)

    assert (failed["status"], failed["payment_method"]) == ("requires_payment_method", None)
    error = failed["last_payment_error"]
    assert (error["type"], error["code"]) == (
        "invalid_request_error",
        "payment_intent_authentication_failure",
    )
    assert error["payment_method"]["card"]["last4"] == "3184"
    receiver.wait_for_types(["payment_intent.payment_failed"])
    assert "charge.failed" not in receiver.accepted_types()
    # the customer may try again with another card
    again = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert again.status == "succeeded"


@pytest.mark.parametrize(
    ("pm", "decline_code"),
    [
        ("pm_card_authenticationRequiredChargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_threeDSecureRequiredChargeDeclined", "generic_decline"),
    ],
)
def test_a_card_may_still_decline_once_authenticated(provider, client, pm, decline_code):
    pi = confirmed(client, pm)

    declined = provider.client.authenticate(pi.id)

    assert declined["status"] == "requires_payment_method"
    assert declined["last_payment_error"]["decline_code"] == decline_code


def test_error_on_requires_action_declines_instead_of_asking(client):
    with pytest.raises(stripe.CardError) as caught:
        confirmed(client, "pm_card_authenticationRequired", error_on_requires_action=True)

    assert (caught.value.code, caught.value.error.decline_code) == (
        "authentication_required",
        "authentication_required",
    )


def test_a_card_that_asks_nothing_succeeds_at_once(client):
    assert confirmed(client, card_pm(client, "4000000000003055").id).status == "succeeded"


def test_only_an_intent_awaiting_authentication_can_be_authenticated(provider, client):
    pi = confirmed(client, "pm_card_visa")

    with pytest.raises(MockError) as caught:
        provider.client.authenticate(pi.id)

    assert caught.value.status == 400
    assert "requires_action" in str(caught.value)
    refused = provider.api("POST", "/_control/payment_intents/pi_nope/authenticate", json={})
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "outcome")
    unknown = provider.http.post(
        f"{provider.base_url}/_control/payment_intents/pi_nope/authenticate",
        json={"outcome": "complete"},
        timeout=5,
    )
    assert unknown.status_code == 404


def test_an_intent_awaiting_authentication_can_be_canceled(client):
    pi = confirmed(client, "pm_card_authenticationRequired")
    assert client.v1.payment_intents.cancel(pi.id).status == "canceled"


def test_the_authentication_url_names_an_intent_it_knows(provider: RunningProvider):
    answer = provider.http.get(
        f"{provider.base_url}/_control/payment_intents/pi_nope/authenticate", timeout=5
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "No such payment_intent: 'pi_nope'"
