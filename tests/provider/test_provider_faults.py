"""Fault injection on the Stripe API: seeded errors, hangs, latency, counts."""

from __future__ import annotations

import time

import pytest
import stripe
from provider_support import fast_settings, running_provider

CONFIRM = "/v1/payment_intents/*/confirm"


def confirm_outcomes(seed: int, runs: int = 20) -> list[str]:
    """Start a fresh provider, fail half the confirms, return what each confirm got."""
    with running_provider(fast_settings(seed=seed)) as running:
        running.control(
            "POST",
            "/faults",
            {"method": "POST", "path": CONFIRM, "probability": 0.5, "error": {"status": 500}},
        )
        client = running.stripe_client()
        outcomes = []
        for _ in range(runs):
            intent = client.v1.payment_intents.create(
                params={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa"}
            )
            try:
                client.v1.payment_intents.confirm(intent.id)
                outcomes.append("ok")
            except stripe.APIError as exc:
                assert exc.http_status == 500
                outcomes.append("error")
        return outcomes


def test_half_errors_on_confirm_with_a_seed_repeat_the_same_sequence():
    first, second = confirm_outcomes(seed=42), confirm_outcomes(seed=42)
    assert first == second
    assert 4 <= first.count("error") <= 16, first


def test_another_seed_gives_another_sequence():
    assert confirm_outcomes(seed=42) != confirm_outcomes(seed=43)


def test_reseeding_over_the_control_api_repeats_the_sequence(provider, client):
    provider.control(
        "POST",
        "/faults",
        {"path": "/v1/payment_intents", "probability": 0.5, "error": {"status": 502}},
    )

    def run() -> list[bool]:
        provider.control("POST", "/seed", {"seed": 99})
        results = []
        for _ in range(10):
            try:
                client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
                results.append(True)
            except stripe.APIError:
                results.append(False)
        return results

    assert run() == run()


def test_hang_is_cut_by_the_client_timeout(provider):
    provider.control(
        "POST", "/faults", {"method": "POST", "path": "/v1/payment_intents", "hang_s": 30}
    )
    client = provider.stripe_client(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert time.monotonic() - started < 5


def test_injected_error_has_stripe_shape(provider):
    provider.control(
        "POST",
        "/faults",
        {"path": "/v1/payment_intents", "error": {"status": 503, "message": "down for a bit"}},
    )
    response = provider.api("POST", "/v1/payment_intents", data={"amount": "1", "currency": "usd"})
    assert response.status_code == 503
    assert response.json() == {"error": {"type": "api_error", "message": "down for a bit"}}


def test_injected_card_error_reaches_the_sdk_as_card_error(provider, client):
    provider.control(
        "POST",
        "/faults",
        {
            "path": CONFIRM,
            "error": {
                "status": 402,
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "do_not_honor",
                "message": "Your card was declined.",
            },
        },
    )
    intent = client.v1.payment_intents.create(
        params={"amount": 100, "currency": "usd", "payment_method": "pm_card_visa"}
    )
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.confirm(intent.id)
    assert caught.value.error.decline_code == "do_not_honor"


def test_count_limits_the_fault_to_the_next_n_calls(provider, client):
    rule = provider.control(
        "POST", "/faults", {"path": "/v1/payment_intents", "count": 2, "error": {"status": 500}}
    )
    outcomes = []
    for _ in range(4):
        try:
            client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
            outcomes.append("ok")
        except stripe.APIError:
            outcomes.append("error")
    assert outcomes == ["error", "error", "ok", "ok"]
    state = provider.control("GET", f"/faults/{rule['id']}")
    assert (state["fired"], state["remaining"]) == (2, 0)


def test_fixed_latency_delays_the_response(provider, client):
    provider.control(
        "POST", "/faults", {"method": "GET", "path": "/v1/payment_intents", "latency_ms": 250}
    )
    started = time.monotonic()
    client.v1.payment_intents.list()
    assert time.monotonic() - started >= 0.25


def test_jittered_latency_stays_between_base_and_base_plus_jitter(provider, client):
    provider.control(
        "POST",
        "/faults",
        {"method": "GET", "path": "/v1/payment_intents", "latency_ms": 50, "jitter_ms": 100},
    )
    for _ in range(3):
        started = time.monotonic()
        client.v1.payment_intents.list()
        elapsed = time.monotonic() - started
        assert 0.05 <= elapsed < 2.0, elapsed


def test_fault_applies_only_to_its_method_and_path(provider, client):
    provider.control(
        "POST", "/faults", {"method": "POST", "path": CONFIRM, "error": {"status": 500}}
    )
    intent = client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert client.v1.payment_intents.retrieve(intent.id).id == intent.id
    assert client.v1.payment_intents.cancel(intent.id).status == "canceled"


def test_double_star_matches_any_depth(provider, client):
    provider.control("POST", "/faults", {"path": "/v1/**", "error": {"status": 500}})
    with pytest.raises(stripe.APIError):
        client.v1.payment_intents.list()
    with pytest.raises(stripe.APIError):
        client.v1.payment_intents.retrieve("pi_whatever")


def test_injected_error_is_not_stored_as_the_idempotent_response(provider, client):
    provider.control(
        "POST", "/faults", {"path": "/v1/payment_intents", "count": 1, "error": {"status": 500}}
    )
    options = {"idempotency_key": "retry-me"}
    params = {"amount": 100, "currency": "usd"}
    with pytest.raises(stripe.APIError):
        client.v1.payment_intents.create(params=params, options=options)
    assert (
        client.v1.payment_intents.create(params=params, options=options).status
        == "requires_payment_method"
    )


def test_should_retry_header_is_sent_when_asked(provider):
    provider.control(
        "POST",
        "/faults",
        {"path": "/v1/payment_intents", "error": {"status": 500, "should_retry": False}},
    )
    response = provider.api("GET", "/v1/payment_intents")
    assert response.headers["Stripe-Should-Retry"] == "false"


def test_deleting_a_fault_stops_it(provider, client):
    rule = provider.control(
        "POST", "/faults", {"path": "/v1/payment_intents", "error": {"status": 500}}
    )
    provider.control("DELETE", f"/faults/{rule['id']}")
    assert client.v1.payment_intents.list().data == []


def test_faults_never_touch_the_control_api(provider):
    provider.control("POST", "/faults", {"path": "/**", "error": {"status": 500}})
    assert provider.control("GET", "/faults")["data"][0]["path"] == "/**"
    assert provider.http.get(f"{provider.base_url}/health", timeout=10).status_code == 200


def test_reset_forgets_objects_faults_and_clock(provider, client):
    client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    provider.control("POST", "/faults", {"path": "/v1/charges", "error": {"status": 500}})
    provider.control("POST", "/clock", {"advance_s": 3600})
    provider.control("POST", "/reset")
    assert client.v1.payment_intents.list().data == []
    assert client.v1.charges.list().data == []
    assert abs(provider.control("GET", "/clock")["offset_s"]) < 1e-9
