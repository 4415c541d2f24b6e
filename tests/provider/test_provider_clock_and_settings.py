"""The movable clock, and settings read from PROVIDER_* variables."""

from __future__ import annotations

import time

import pytest
from provider_support import running_provider

from mocks.provider import ProviderSettings
from mocks.provider.settings import SettingsError


def test_advanced_clock_stamps_new_objects_later(provider, client):
    provider.control("POST", "/clock", {"advance_s": 3600})
    intent = client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert intent.created >= time.time() + 3590


def test_clock_set_to_an_absolute_time_stamps_events_with_it(provider, client):
    provider.control("POST", "/clock", {"now": 1_700_000_000})
    client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    [event] = client.v1.events.list().data
    assert 1_700_000_000 <= event.created < 1_700_000_060


def test_clock_reset_returns_to_real_time(provider):
    provider.control("POST", "/clock", {"advance_s": 500})
    clock = provider.control("POST", "/clock", {"reset": True})
    assert abs(clock["now"] - time.time()) < 5


def test_events_list_filters_by_created_range(provider, client):
    provider.control("POST", "/clock", {"now": 1_000_000_000})
    client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    provider.control("POST", "/clock", {"now": 2_000_000_000})
    client.v1.payment_intents.create(params={"amount": 200, "currency": "usd"})
    recent = client.v1.events.list(params={"created": {"gte": 1_500_000_000}}).data
    assert [e.data.object.amount for e in recent] == [200]


def test_events_list_filters_by_type_wildcard(client):
    client.v1.payment_intents.create(
        params={"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    types = {e.type for e in client.v1.events.list(params={"type": "charge.*"}).data}
    assert types == {"charge.succeeded"}


def test_settings_read_provider_variables():
    settings = ProviderSettings.from_env(
        {
            "PROVIDER_PORT": "9999",
            "PROVIDER_SEED": "3",
            "PROVIDER_WEBHOOK_URL": "http://a/x, http://b/y",
            "PROVIDER_WEBHOOK_SECRET": "whsec_1,whsec_2",
            "PROVIDER_WEBHOOK_RETRY_BASE_S": "0.5",
            "PROVIDER_WEBHOOK_LATENCY_S": "0.25",
            "PROVIDER_IDEMPOTENCY_TTL_S": "60",
        }
    )
    assert settings.port == 9999 and settings.seed == 3
    assert settings.webhook_latency_s == 0.25
    assert settings.webhook_urls == ("http://a/x", "http://b/y")
    assert settings.webhook_secrets == ("whsec_1", "whsec_2")
    assert settings.webhook_retry_base_s == 0.5
    assert settings.idempotency_ttl_s == 60


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROVIDER_WEBHOOK_MAX_ATTEMPTS", "many"),
        ("PROVIDER_WEBHOOK_LATENCY_S", "-0.1"),
        ("PROVIDER_WEBHOOK_LATENCY_S", "inf"),
    ],
)
def test_settings_name_the_variable_that_is_wrong(name, value):
    with pytest.raises(SettingsError) as caught:
        ProviderSettings.from_env({name: value})
    assert caught.value.name == name


def test_settings_refuse_secrets_that_do_not_pair_with_urls():
    with pytest.raises(SettingsError):
        ProviderSettings.from_env(
            {
                "PROVIDER_WEBHOOK_URL": "http://a/x,http://b/y,http://c/z",
                "PROVIDER_WEBHOOK_SECRET": "s1,s2",
            }
        )


def test_configured_api_keys_are_the_only_ones_accepted():
    with running_provider(ProviderSettings(api_keys=("sk_test_only_this_one",))) as running:

        def status_with(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            url = f"{running.base_url}/v1/events"
            return running.http.get(url, headers=headers, timeout=10).status_code

        assert status_with("sk_test_only_this_one") == 200
        assert status_with("sk_test_other_key") == 401
