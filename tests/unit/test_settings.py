"""Settings come from the environment with the documented defaults and clear errors."""

from __future__ import annotations

import pytest

from sandbox.settings import BrokerSettings, SettingsError


def test_defaults_without_environment():
    settings = BrokerSettings.from_env({})
    assert settings.url is None
    assert settings.exchange == "appointment_events"
    assert settings.payment_queue == "payment_events"
    assert settings.notification_queue == "appointment_notifications"
    assert settings.queue_type == "quorum"
    assert settings.retry_delays_ms == (1000, 2000, 4000)


def test_seed_environment_variables_override_names():
    settings = BrokerSettings.from_env(
        {
            "RABBITMQ_URL": "amqp://rabbitmq:5672",
            "RABBITMQ_EVENTS_EXCHANGE": "ex",
            "RABBITMQ_PAYMENT_QUEUE": "pq",
            "RABBITMQ_NOTIFICATION_QUEUE": "nq",
            "RABBITMQ_QUEUE_TYPE": "classic",
            "RABBITMQ_RETRY_DELAYS_MS": "500,1500",
        }
    )
    assert (settings.url, settings.exchange, settings.payment_queue) == (
        "amqp://rabbitmq:5672",
        "ex",
        "pq",
    )
    assert settings.notification_queue == "nq"
    assert settings.queue_type == "classic"
    assert settings.retry_delays_ms == (500, 1500)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RABBITMQ_QUEUE_TYPE", "stream"),
        ("RABBITMQ_RETRY_DELAYS_MS", "1s,2s"),
        ("RABBITMQ_RETRY_DELAYS_MS", "1000,-1"),
        ("RABBITMQ_PREFETCH", "0"),
        ("RABBITMQ_PREFETCH", "many"),
        ("RABBITMQ_RECONNECT_MAX_S", "nan"),
        ("RABBITMQ_RECONNECT_MAX_S", "inf"),
        ("RABBITMQ_RECONNECT_MAX_S", "-1"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError) as caught:
        BrokerSettings.from_env({name: value})
    assert caught.value.name == name
    assert name in str(caught.value) and value in str(caught.value)


def test_settings_are_frozen():
    settings = BrokerSettings()
    with pytest.raises(AttributeError):
        settings.exchange = "other"  # type: ignore[misc]
