"""Fuzzing: the form parser and the API never answer 500; the control API meets its contract."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_support import fast_settings, running_provider
from stripe._encode import _api_encode

from mocks.provider import ProviderSettings, create_app
from mocks.provider.forms import FormError, parse_text
from tests.fuzzing import ALL_CHECKS, fuzz_settings, load

CONTRACT = Path(__file__).parents[2] / "contracts" / "http" / "provider-control.openapi.yaml"
AUTH = {"Authorization": "Bearer sk_test_fuzzing_key_123"}

keys = st.text(
    st.characters(codec="utf-8", exclude_characters="[]"), min_size=1, max_size=8
).filter(lambda k: not (k.isascii() and k.isdigit()))
scalars = st.text(st.characters(codec="utf-8"), max_size=12)
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(keys, children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


@settings(database=None)
@given(st.dictionaries(keys, nested, max_size=5))
def test_form_parser_reads_back_what_the_stripe_sdk_encodes(data):
    encoded = urlencode(list(_api_encode(data)))
    assert parse_text(encoded) == data


@settings(database=None)
@given(st.text(max_size=200))
def test_form_parser_only_ever_raises_form_error(text):
    try:
        parse_text(text)
    except FormError as exc:
        assert exc.status == 400


ROUTES = [
    ("POST", "/v1/payment_intents"),
    ("POST", "/v1/payment_methods"),
    ("POST", "/v1/refunds"),
    ("POST", "/v1/webhook_endpoints"),
    ("POST", "/v1/payment_intents/pi_x/confirm"),
    ("GET", "/v1/payment_intents"),
    ("GET", "/v1/events"),
]
form_bodies = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "amount",
                    "currency",
                    "confirm",
                    "payment_method",
                    "metadata[x]",
                    "card[number]",
                    "card[exp_month]",
                    "card[exp_year]",
                    "type",
                    "expand[]",
                    "limit",
                    "created[gte]",
                    "url",
                    "enabled_events[0]",
                    "payment_intent",
                    "a[b][c]",
                    "amount[0]",
                ]
            ),
            st.one_of(
                st.text(max_size=20),
                st.sampled_from(
                    ["usd", "4242424242424242", "pm_card_visa", "12", "2040", "true", "card"]
                ),
            ),
        ),
        max_size=8,
    ).map(lambda pairs: urlencode(pairs).encode()),
)


@pytest.fixture(scope="module")
def app_client():
    app = create_app(ProviderSettings(seed=1))
    return app.test_client()


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(route=st.sampled_from(ROUTES), body=form_bodies)
def test_api_never_answers_500_to_any_form_body(app_client, route, body):
    method, path = route
    if method == "GET":
        query = {"QUERY_STRING": body.decode("latin-1")}
        response = app_client.get(path, environ_overrides=query, headers=AUTH)
    else:
        response = app_client.post(
            path, data=body, headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
        )
    assert response.status_code < 500, response.get_data(as_text=True)
    assert "error" in response.get_json() or response.status_code == 200


# loaded eagerly: schemathesis' lazy from_fixture loader does not work with pytest 9
schema = load(CONTRACT)


@pytest.fixture(scope="module")
def shared_provider():
    """One provider for every generated case (hypothesis reuses fixtures across inputs)."""
    with running_provider(fast_settings()) as running:
        yield running


@schema.parametrize()
@fuzz_settings(max_examples=30)
def test_control_api_conforms_to_its_openapi_contract(case, shared_provider):
    # moves add up; one beyond year 9999 is a documented 400 the schema cannot express
    shared_provider.provider.clock.reset()
    case.call_and_validate(
        base_url=shared_provider.base_url, session=shared_provider.http, checks=ALL_CHECKS
    )
