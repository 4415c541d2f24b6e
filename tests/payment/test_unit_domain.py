"""Money, decline codes, transitions and settings: pure functions, no I/O."""

from __future__ import annotations

import pytest

from sandbox.services.payment import model
from sandbox.services.payment.money import AmountError, CurrencyError, to_major, to_minor
from sandbox.services.payment.provider import map_decline
from sandbox.services.payment.settings import PaymentSettings, SettingsError


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (25.5, "USD", 2550),
        (25.50, "EUR", 2550),
        (0.01, "USD", 1),
        (500, "JPY", 500),
        (75, "USD", 7500),
    ],
)
def test_amounts_become_exact_minor_units(amount, currency, minor):
    assert to_minor(amount, currency) == minor
    assert to_major(minor, currency) == amount


@pytest.mark.parametrize(
    "amount",
    [0, -1, 0.001, 0.1 + 0.2, 1_000_000.01, float("inf"), float("nan"), True, "10"],
)
def test_amounts_that_cannot_be_charged_are_refused(amount):
    with pytest.raises(AmountError):
        to_minor(amount, "USD")


def test_yen_amounts_with_decimals_are_refused():
    with pytest.raises(AmountError, match="whole units"):
        to_minor(10.5, "JPY")


def test_three_decimal_currencies_are_refused():
    with pytest.raises(CurrencyError):
        to_minor(10, "KWD")


@pytest.mark.parametrize(
    ("code", "decline", "expired", "expected"),
    [
        ("card_declined", "generic_decline", False, "CARD_DECLINED"),
        ("card_declined", "insufficient_funds", False, "INSUFFICIENT_FUNDS"),
        ("card_declined", "lost_card", False, "CARD_DECLINED"),
        ("card_declined", "fraudulent", False, "CARD_DECLINED"),
        ("expired_card", "expired_card", False, "CARD_EXPIRED"),
        ("invalid_expiry_year", None, True, "CARD_EXPIRED"),
        ("invalid_expiry_year", None, False, "INVALID_CARD"),
        ("incorrect_number", None, False, "INVALID_CARD"),
        ("incorrect_cvc", "incorrect_cvc", False, "INVALID_CARD"),
        ("processing_error", "processing_error", False, "CARD_DECLINED"),
    ],
)
def test_provider_declines_map_to_seed_003_codes(code, decline, expired, expected):
    assert map_decline(code, decline, "msg", card_expired=expired).code == expected


def test_processing_errors_may_be_retried_and_other_declines_not():
    assert map_decline("processing_error", "processing_error", None).retry_possible
    assert not map_decline("card_declined", "generic_decline", None).retry_possible


@pytest.mark.parametrize(
    ("before", "after", "event"),
    [
        (None, "pending", "payment.created"),
        ("pending", "completed", "payment.completed"),
        ("pending", "failed", "payment.failed"),
        ("failed", "completed", "payment.completed"),
        ("completed", "partially_refunded", "payment.refunded"),
        ("partially_refunded", "refunded", "payment.refunded"),
        ("pending", "cancelled", "payment.cancelled"),
    ],
)
def test_each_transition_emits_its_event(before, after, event):
    assert model.event_for(before, after) == event


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("completed", "pending"),
        ("refunded", "completed"),
        ("cancelled", "completed"),
        (None, "completed"),
    ],
)
def test_transitions_never_move_a_payment_back(before, after):
    with pytest.raises(model.InvalidTransition):
        model.event_for(before, after)


def test_retryable_failures_hold_the_booking_and_declines_do_not():
    assert model.holds_booking("failed", retryable=True)
    assert not model.holds_booking("failed", retryable=False)
    assert model.holds_booking("partially_refunded", retryable=False)
    assert not model.holds_booking("refunded", retryable=False)


def test_card_input_never_shows_the_card_in_its_repr():
    card = model.CardInput("4111111111111111", 12, 2030, "123", "Ada")
    assert "4111" not in repr(card) and "123" not in repr(card)


def test_settings_come_from_the_environment_with_documented_defaults(tmp_path):
    settings = PaymentSettings.from_env({"SANDBOX_STATE_DIR": str(tmp_path)})
    assert settings.port == 8003
    assert settings.database_url == f"sqlite:///{tmp_path / 'payment.db'}"
    assert settings.rate_limits == ("100 per minute", "20 per 10 seconds")
    assert settings.default_tenant == "default" and settings.default_currency == "USD"

    custom = PaymentSettings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x",
            "PAYMENT_RATE_LIMIT_ENABLED": "false",
            "PAYMENT_DEFAULT_CURRENCY": "eur",
            "PAYMENT_RATE_LIMITS": "5 per second; 50 per minute",
        }
    )
    assert custom.database_url == "postgresql://db/x"
    assert not custom.rate_limit_enabled
    assert custom.default_currency == "EUR"
    assert custom.rate_limits == ("5 per second", "50 per minute")
    assert (
        PaymentSettings.from_env(
            {"DATABASE_URL": "postgresql://db/x", "PAYMENT_DATABASE_URL": "postgresql://db/pay"}
        ).database_url
        == "postgresql://db/pay"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PAYMENT_PORT", "http"),
        ("PAYMENT_RATE_LIMIT_ENABLED", "maybe"),
        ("PAYMENT_DEFAULT_CURRENCY", "DOLLAR"),
    ],
)
def test_unusable_settings_are_refused_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        PaymentSettings.from_env({name: value})
