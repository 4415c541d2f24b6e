"""Bad input gets Stripe-style 4xx errors that name the parameter, never a 500."""

from __future__ import annotations

import pytest
import stripe

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def error_of(response) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return response.json()["error"]


# a PaymentIntent's parameters, the code of the error refusing them, the parameter it names
PAYABLE = {"amount": 100, "currency": "usd"}
REFUSED_INTENTS = {
    "missing-amount": ({"currency": "usd"}, "parameter_missing", "amount"),
    "amount-not-an-integer": (
        {**PAYABLE, "amount": "twelve"},
        "parameter_invalid_integer",
        "amount",
    ),
    "negative-amount": ({**PAYABLE, "amount": -5}, "parameter_invalid_integer", "amount"),
    "confirm-not-a-boolean": ({**PAYABLE, "confirm": "maybe"}, "parameter_invalid", "confirm"),
    "bad-currency": ({**PAYABLE, "currency": "dollars"}, "parameter_invalid", "currency"),
    "unknown-parameter": ({**PAYABLE, "colour": "red"}, "parameter_unknown", "colour"),
    "unknown-payment-method": (
        {**PAYABLE, "payment_method": "pm_nope"},
        "resource_missing",
        "payment_method",
    ),
    "unknown-test-token": (
        {**PAYABLE, "payment_method": "pm_card_bogus"},
        "resource_missing",
        "payment_method",
    ),
}


@pytest.mark.parametrize(("params", "code", "param"), REFUSED_INTENTS.values(), ids=REFUSED_INTENTS)
def test_a_refused_payment_intent_has_a_code_and_names_the_parameter(client, params, code, param):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params=params)
    assert caught.value.code == code
    assert caught.value.param == param


def test_missing_nested_card_field_names_it(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_methods.create(
            params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 1}}
        )
    assert caught.value.param == "card[exp_year]"


def test_metadata_given_as_string_is_refused(provider):
    response = provider.api(
        "POST", "/v1/payment_intents", data="amount=1&currency=usd&metadata=x", headers=FORM
    )
    assert error_of(response)["param"] == "metadata"


def test_unknown_payment_intent_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "intent"


def test_unknown_refund_target_names_payment_intent(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": "pi_nope"})
    assert caught.value.param == "payment_intent"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("amount=1&currency=usd&metadata[a]=1&metadata=2", "metadata"),
        ("amount=1&currency=usd&metadata=2&metadata[a]=1", "metadata"),
        ("amount[=1&currency=usd", "amount["),
        ("amount]x=1", "amount]x"),
        ("amount=1&currency[0]=usd", "currency"),
    ],
)
def test_malformed_form_body_names_the_parameter(provider, body, param):
    response = provider.api("POST", "/v1/payment_intents", data=body, headers=FORM)
    assert error_of(response)["param"] == param


def test_body_that_is_not_utf8_is_refused(provider):
    response = provider.api("POST", "/v1/payment_intents", data=b"amount=\xff\xfe", headers=FORM)
    assert error_of(response)["type"] == "invalid_request_error"


def test_json_body_is_refused_as_not_form_encoded(provider):
    response = provider.api("POST", "/v1/payment_intents", json={"amount": 1, "currency": "usd"})
    assert "x-www-form-urlencoded" in error_of(response)["message"]


def test_missing_api_key_is_401(provider):
    response = provider.http.get(f"{provider.base_url}/v1/payment_intents", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"


def test_wrong_api_key_is_authentication_error(provider):
    client = stripe.StripeClient(
        "sk_live_not_a_test_key",
        base_addresses={"api": provider.base_url},
        http_client=stripe.RequestsClient(session=provider.http),
    )
    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.payment_intents.list()
    assert "sk_live_" in caught.value.user_message
    assert "not_a_test_key" not in caught.value.user_message


def test_basic_auth_with_the_key_as_user_is_accepted(provider):
    response = provider.http.get(
        f"{provider.base_url}/v1/payment_intents", auth=("sk_test_basic_auth_user", ""), timeout=10
    )
    assert response.status_code == 200


def test_unknown_url_is_stripe_style_404(provider):
    response = provider.api("GET", "/v1/not_a_thing")
    assert response.status_code == 404
    assert "Unrecognized request URL" in response.json()["error"]["message"]


def test_wrong_method_is_stripe_style_404(provider):
    response = provider.api("DELETE", "/v1/payment_intents")
    assert response.status_code == 404


def test_bad_list_limit_names_limit(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.list(params={"limit": 1000})
    assert caught.value.param == "limit"


def test_unknown_cursor_names_starting_after(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.list(params={"starting_after": "pi_missing"})
    assert caught.value.param == "starting_after"


def test_webhook_endpoint_with_bad_url_names_url(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.webhook_endpoints.create(params={"url": "ftp://x", "enabled_events": ["*"]})
    assert caught.value.param == "url"


def test_webhook_endpoint_with_unknown_event_names_it(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.webhook_endpoints.create(
            params={"url": "http://x.test/h", "enabled_events": ["nope.nope"]}
        )
    assert caught.value.param == "enabled_events[0]"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/faults", {"error": {"status": 500}}, "path"),
        ("/faults", {"path": "/v1/x", "probability": 2}, "probability"),
        ("/faults", {"path": "/v1/x", "latency_ms": "slow"}, "latency_ms"),
        ("/faults", {"path": "/v1/x", "error": {"status": 200}}, "error.status"),
        ("/faults", {"path": "/v1/x", "colour": 1, "hang_s": 1}, "colour"),
        ("/faults", {"path": "/v1/x"}, "error"),
        ("/webhooks", {"delay": {"ms": -1}}, "delay.ms"),
        ("/webhooks", {"duplicate": {"copies": 0}}, "duplicate.copies"),
        ("/clock", {"advance_s": 1, "now": 5}, "now"),
        ("/clock", {"advance_s": "soon"}, "advance_s"),
        ("/seed", {}, "seed"),
        ("/seed", {"seed": "x"}, "seed"),
        ("/reset", [1], "body"),
    ],
)
def test_control_api_400_names_the_field(provider, path, body, param):
    response = provider.http.post(f"{provider.base_url}/_control{path}", json=body, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_control_api_rejects_invalid_json(provider):
    response = provider.http.post(
        f"{provider.base_url}/_control/faults",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "body"


def test_control_api_unknown_fault_is_404(provider):
    response = provider.http.delete(f"{provider.base_url}/_control/faults/flt_999", timeout=10)
    assert response.status_code == 404
