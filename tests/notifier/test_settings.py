"""The notifier's settings: defaults, overrides, and secrets kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.services.notifier.settings import NotifierSettings
from sandbox.settings import SettingsError


def test_defaults_point_at_the_mock_smtp_and_send_no_callbacks(tmp_path: Path) -> None:
    settings = NotifierSettings.from_env({"SANDBOX_STATE_DIR": str(tmp_path)})
    assert settings.port == 8004
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 1025)
    assert settings.merchant.url is None
    assert settings.database_url == f"sqlite:///{tmp_path / 'notifier.db'}"


def test_smtp_and_merchant_settings_come_from_the_environment() -> None:
    settings = NotifierSettings.from_env(
        {
            "SMTP_SERVER": "mail.example.com",  # seed 002's name
            "SMTP_PORT": "2525",
            "SMTP_FROM": "Clinic <no-reply@clinic.example>",
            "SMTP_PASSWORD": "hunter2",
            "MERCHANT_CALLBACK_URL": "http://merchant.example/cb",
            "MERCHANT_CALLBACK_SECRET": "s3cret",
            "MERCHANT_CALLBACK_TIMEOUT_S": "2.5",
        }
    )
    assert (settings.smtp.host, settings.smtp.port) == ("mail.example.com", 2525)
    assert settings.smtp.sender_domain == "clinic.example"
    assert settings.merchant.timeout_s == 2.5
    assert "hunter2" not in repr(settings)
    assert "s3cret" not in repr(settings)


def test_a_callback_url_without_a_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="MERCHANT_CALLBACK_SECRET"):
        NotifierSettings.from_env({"MERCHANT_CALLBACK_URL": "http://merchant.example/cb"})


def test_the_consumer_runs_four_lanes_by_default() -> None:
    assert NotifierSettings.from_env({}).consumer_concurrency == 4
    assert (
        NotifierSettings.from_env({"NOTIFIER_CONSUMER_CONCURRENCY": "1"}).consumer_concurrency == 1
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("four", "expected an integer"),
        ("0", "between 1 and 64"),
        ("65", "between 1 and 64"),
        ("2.5", "expected an integer"),
    ],
)
def test_a_bad_consumer_concurrency_names_the_variable(value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=f"NOTIFIER_CONSUMER_CONCURRENCY.*{expected}"):
        NotifierSettings.from_env({"NOTIFIER_CONSUMER_CONCURRENCY": value})


def test_more_lanes_than_prefetched_messages_is_refused() -> None:
    env = {"NOTIFIER_CONSUMER_CONCURRENCY": "8", "RABBITMQ_PREFETCH": "4"}
    with pytest.raises(SettingsError, match=r"no more lanes than RABBITMQ_PREFETCH \(4\)") as e:
        NotifierSettings.from_env(env)
    assert e.value.name == "NOTIFIER_CONSUMER_CONCURRENCY"
