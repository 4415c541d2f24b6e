"""Customers, attached PaymentMethods and off-session payments through the stripe SDK;
what the mock does not model answers Stripe's error shape and says so."""

from __future__ import annotations

import pytest
import stripe

CHARGE = {"amount": 1800, "currency": "usd", "confirm": True, "off_session": True}


def customer_with(client: stripe.StripeClient, pm: str) -> tuple[str, str]:
    """A new customer and the id of the card ``pm`` attached to it."""
    customer = client.v1.customers.create(params={"email": "ada@example.test"})
    attached = client.v1.payment_methods.attach(pm, params={"customer": customer.id})
    return customer.id, attached.id


def test_a_customer_is_created_retrieved_and_listed(client, receiver):
    made = client.v1.customers.create(
        params={"email": "ada@example.test", "name": "Ada", "metadata": {"crm": "42"}}
    )
    client.v1.customers.create(params={"email": "bob@example.test"})

    assert made.id.startswith("cus_") and made.object == "customer"
    assert client.v1.customers.retrieve(made.id).metadata.to_dict() == {"crm": "42"}
    listed = client.v1.customers.list(params={"email": "ada@example.test"})
    assert ([c.id for c in listed.data], listed.has_more, listed.url) == (
        [made.id],
        False,
        "/v1/customers",
    )
    assert len(client.v1.customers.list(params={"limit": 1}).data) == 1
    receiver.wait_for_types(["customer.created"])


def test_an_attached_card_is_listed_for_its_customer(client, receiver):
    customer, pm = customer_with(client, "pm_card_visa")

    methods = client.v1.payment_methods.list(params={"customer": customer, "type": "card"})

    assert [m.id for m in methods.data] == [pm]
    receiver.wait_for_types(["payment_method.attached"])
    client.v1.payment_methods.detach(pm)
    assert client.v1.payment_methods.retrieve(pm).customer is None


def test_a_card_attached_to_one_customer_cannot_be_attached_to_another(client):
    _, pm = customer_with(client, "pm_card_visa")
    other = client.v1.customers.create()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_methods.attach(pm, params={"customer": other.id})

    assert caught.value.code == "payment_method_unexpected_state"


def test_an_off_session_payment_with_a_saved_card_succeeds(client):
    customer, pm = customer_with(client, "pm_card_visa")

    pi = client.v1.payment_intents.create(
        params={**CHARGE, "customer": customer, "payment_method": pm}
    )

    assert (pi.status, pi.customer) == ("succeeded", customer)
    assert client.v1.charges.retrieve(str(pi.latest_charge)).customer == customer


@pytest.mark.parametrize(
    "pm", ["pm_card_authenticationRequired", "pm_card_authenticationRequiredOnSetup"]
)
def test_an_off_session_payment_on_a_3ds_card_fails_with_authentication_required(client, pm):
    customer, card = customer_with(client, pm)

    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(
            params={**CHARGE, "customer": customer, "payment_method": card}
        )

    error = caught.value.error
    assert (caught.value.code, error.decline_code) == (
        "authentication_required",
        "authentication_required",
    )
    assert error.payment_intent.status == "requires_payment_method"


def test_a_card_set_up_for_off_session_use_is_charged_without_the_customer(client, provider):
    customer, card = customer_with(client, "pm_card_authenticationRequiredSetupForOffSession")
    assert (
        client.v1.payment_intents.create(
            params={**CHARGE, "customer": customer, "payment_method": card}
        ).status
        == "succeeded"
    )
    # 3155 is set up by an authenticated on-session payment that saves it
    customer, card = customer_with(client, "pm_card_authenticationRequiredOnSetup")
    first = client.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "customer": customer,
            "payment_method": card,
            "setup_future_usage": "off_session",
            "confirm": True,
        }
    )
    provider.client.authenticate(first.id)
    later = client.v1.payment_intents.create(
        params={**CHARGE, "customer": customer, "payment_method": card}
    )
    assert later.status == "succeeded"


def test_an_intent_cannot_pay_with_another_customers_card(client):
    _, card = customer_with(client, "pm_card_visa")
    other = client.v1.customers.create()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(
            params={**CHARGE, "customer": other.id, "payment_method": card}
        )

    assert caught.value.param == "payment_method"


def test_an_unknown_customer_is_a_404_naming_the_parameter(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd", "customer": "cus_nobody"}
        )
    assert (caught.value.http_status, caught.value.param) == (404, "customer")


def test_off_session_needs_confirm(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd", "off_session": True}
        )
    assert caught.value.param == "off_session"


@pytest.mark.parametrize("resource", ["payment_intents", "charges", "customers"])
def test_search_answers_that_the_mock_does_not_support_it(provider, resource):
    answer = provider.api("GET", f"/v1/{resource}/search", params={"query": "status:'x'"})

    error = answer.json()["error"]
    assert (answer.status_code, error["type"]) == (404, "invalid_request_error")
    assert "does not support search" in error["message"]
    assert "No such" not in error["message"]


def test_an_unmodelled_resource_is_named_as_unsupported(provider):
    answer = provider.api("POST", "/v1/subscriptions", data={"customer": "cus_x"})

    assert answer.status_code == 404
    assert "does not support subscriptions" in answer.json()["error"]["message"]


def test_an_unmodelled_parameter_is_named_as_unsupported(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.create(params={"tax_id_data": [{"type": "eu_vat", "value": "x"}]})

    assert caught.value.param == "tax_id_data"
    assert "mock provider supports" in str(caught.value.user_message)
