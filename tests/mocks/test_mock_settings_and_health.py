"""Settings of both mocks, their command-line refusals and the SMTP health verdict."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mocks.merchant.main import main as merchant_main
from mocks.merchant.settings import MerchantMockSettings
from mocks.merchant.settings import SettingsError as MerchantSettingsError
from mocks.smtp.api import create_app
from mocks.smtp.main import main as smtp_main
from mocks.smtp.refusal import RefusePolicy
from mocks.smtp.settings import SettingsError, SmtpMockSettings
from mocks.smtp.store import MessageStore


def test_smtp_settings_are_read_from_mock_smtp_variables() -> None:
    settings = SmtpMockSettings.from_env(
        {"MOCK_SMTP_SMTP_PORT": "2525", "MOCK_SMTP_HTTP_PORT": "0", "MOCK_SMTP_MAX_MESSAGES": "5"}
    )

    assert (settings.smtp_port, settings.http_port, settings.max_messages) == (2525, 0, 5)


def test_smtp_settings_reject_a_port_that_is_not_a_number() -> None:
    with pytest.raises(SettingsError, match="MOCK_SMTP_SMTP_PORT"):
        SmtpMockSettings.from_env({"MOCK_SMTP_SMTP_PORT": "smtp"})


def test_aiosmtpd_logs_warnings_only_unless_told_otherwise() -> None:
    assert SmtpMockSettings.from_env({}).aiosmtpd_log_level == "WARNING"
    chatty = SmtpMockSettings.from_env({"MOCK_SMTP_AIOSMTPD_LOG_LEVEL": "INFO"})
    assert chatty.aiosmtpd_log_level == "INFO"
    with pytest.raises(SettingsError, match="aiosmtpd_log_level"):
        SmtpMockSettings.from_env({"MOCK_SMTP_AIOSMTPD_LOG_LEVEL": "LOUD"})


def test_merchant_settings_are_read_from_mock_merchant_variables() -> None:
    settings = MerchantMockSettings.from_env(
        {
            "MOCK_MERCHANT_SECRET": "s",
            "MOCK_MERCHANT_CALLBACK_PATH": "/api/v1/payments/update",
            "MOCK_MERCHANT_TOLERANCE_S": "60",
        }
    )

    assert settings.secret == "s"
    assert settings.secret_generated is False
    assert settings.callback_path == "/api/v1/payments/update"
    assert settings.tolerance_s == 60


def test_merchant_secret_is_generated_when_not_given() -> None:
    settings = MerchantMockSettings.from_env({})

    assert settings.secret_generated is True
    assert len(settings.secret) == 32


def test_merchant_callback_path_may_not_shadow_the_control_api() -> None:
    with pytest.raises(MerchantSettingsError, match="callback_path"):
        MerchantMockSettings(secret="s", callback_path="/_control/fail")


@pytest.mark.parametrize(
    ("main", "argv"),
    [(smtp_main, ["--smtp-port", "70000"]), (merchant_main, ["--path", "no-slash"])],
    ids=["smtp", "merchant"],
)
def test_command_line_refuses_bad_settings_with_exit_code_2(
    main: Callable[[list[str]], int], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "is not valid" in capsys.readouterr().err


def test_smtp_health_is_503_degraded_when_the_listener_is_down() -> None:
    def listener_down() -> dict[str, object]:
        return {"listening": False, "host": "127.0.0.1", "port": 1025}

    app = create_app(SmtpMockSettings(), MessageStore(), RefusePolicy(), listener_down)

    response = app.test_client().get("/health")

    assert response.status_code == 503
    assert response.get_json()["status"] == "degraded"
