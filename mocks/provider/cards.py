"""Test cards: Stripe's documented outcomes, seed 003's table, Luhn and expiry checks.

Some of Stripe's test cards ask the customer to authenticate (3D Secure) before they
are charged; when, is the card's ``authentication`` (``ALWAYS``, ``ON_SESSION``,
``UNLESS_SET_UP``, or None for never), and ``decline`` is then what the charge does
once the customer has authenticated.

A card's outcome is decided here once, when its PaymentMethod is created; the number
itself is then dropped.  Only brand, last4, expiry, funding, country and a fingerprint
are kept, as on Stripe's PaymentMethod objects.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from mocks.provider.errors import StripeError
from sandbox.cards import luhn_ok


@dataclass(frozen=True)
class Decline:
    """Why a charge on this card fails: Stripe's error code, decline code and message."""

    code: str
    decline_code: str | None
    message: str
    param: str | None = None


# When a card asks its holder to authenticate (3D Secure), as Stripe's test cards do:
ALWAYS = "always"  # every payment, with the customer present or not
ON_SESSION = "on_session"  # with the customer present; off-session payments are set up
# with the customer present, and off session until an authenticated payment set it up
# (``setup_future_usage=off_session``); then as ON_SESSION
UNLESS_SET_UP = "unless_set_up"


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None
    authentication: str | None = None


DECLINED = "Your card was declined."
GENERIC = Decline("card_declined", "generic_decline", DECLINED)
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST = Decline("card_declined", "lost_card", DECLINED)
STOLEN = Decline("card_declined", "stolen_card", DECLINED)
FRAUD = Decline("card_declined", "fraudulent", DECLINED)
VELOCITY = Decline(
    "card_declined",
    "card_velocity_exceeded",
    "Your card was declined for making repeated attempts too frequently or exceeding its "
    "amount limit.",
)
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.", "exp_month")
BAD_CVC = Decline(
    "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc"
)
PROCESSING = Decline(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
)

CARDS: dict[str, TestCard] = {
    c.number: c
    for c in (
        TestCard("4242424242424242", "visa"),
        TestCard("4111111111111111", "visa"),
        TestCard("4000056655665556", "visa", funding="debit"),
        TestCard("5555555555554444", "mastercard"),
        TestCard("2223003122003222", "mastercard"),
        TestCard("5200828282828210", "mastercard", funding="debit"),
        TestCard("5105105105105100", "mastercard", funding="prepaid"),
        TestCard("378282246310005", "amex"),
        TestCard("371449635398431", "amex"),
        TestCard("6011111111111117", "discover"),
        TestCard("3056930009020004", "diners"),
        TestCard("36227206271667", "diners"),
        TestCard("3566002020360505", "jcb"),
        TestCard("6200000000000005", "unionpay", country="CN"),
        TestCard("4000000000000002", "visa", decline=GENERIC),
        TestCard("4000000000009995", "visa", decline=INSUFFICIENT),
        TestCard("4000000000009987", "visa", decline=LOST),
        TestCard("4000000000009979", "visa", decline=STOLEN),
        TestCard("4000000000000069", "visa", decline=EXPIRED),
        TestCard("4000000000000127", "visa", decline=BAD_CVC),
        TestCard("4000000000000119", "visa", decline=PROCESSING),
        TestCard("4000000000006975", "visa", decline=VELOCITY),
        TestCard("4100000000000019", "visa", decline=FRAUD),
        TestCard("4000000000000341", "visa", decline=GENERIC),
        TestCard("4000002500003155", "visa", authentication=UNLESS_SET_UP),
        TestCard("4000002760003184", "visa", authentication=ALWAYS),
        TestCard("4000003800000446", "visa", authentication=ON_SESSION),
        TestCard("4000008260003178", "visa", decline=INSUFFICIENT, authentication=UNLESS_SET_UP),
        TestCard("4000000000003220", "visa", authentication=ALWAYS),
        TestCard("4000000000003063", "visa", authentication=ALWAYS),
        TestCard("4000008400001629", "visa", decline=GENERIC, authentication=ALWAYS),
        TestCard("4000000000003055", "visa"),
    )
}

# Stripe's test PaymentMethod ids (and tok_ tokens) and the card each stands for
TOKENS: dict[str, str] = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "mastercard_prepaid": "5105105105105100",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "diners": "3056930009020004",
    "jcb": "3566002020360505",
    "unionpay": "6200000000000005",
    "chargeDeclined": "4000000000000002",
    "visa_chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedLostCard": "4000000000009987",
    "visa_chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedStolenCard": "4000000000009979",
    "visa_chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "visa_chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "visa_chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "visa_chargeDeclinedProcessingError": "4000000000000119",
    "chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "chargeDeclinedFraudulent": "4100000000000019",
    "visa_chargeDeclinedFraudulent": "4100000000000019",
    "chargeCustomerFail": "4000000000000341",
    "authenticationRequiredOnSetup": "4000002500003155",
    "authenticationRequired": "4000002760003184",
    "authenticationRequiredSetupForOffSession": "4000003800000446",
    "authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "threeDSecure2Required": "4000000000003220",
    "threeDSecureRequired": "4000000000003063",
    "threeDSecureRequiredChargeDeclined": "4000008400001629",
    "threeDSecureOptional": "4000000000003055",
}

_BRAND_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amex", ("34", "37")),
    ("diners", ("300", "301", "302", "303", "304", "305", "36", "38")),
    ("discover", ("6011", "644", "645", "646", "647", "648", "649", "65")),
    ("jcb", ("35",)),
    ("unionpay", ("62",)),
    ("mastercard", ("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27")),
    ("visa", ("4",)),
)


def card_for_token(token: str) -> str | None:
    """Return the card number behind ``pm_card_visa`` / ``tok_visa``, or None."""
    for prefix in ("pm_card_", "tok_"):
        if token.startswith(prefix):
            return TOKENS.get(token[len(prefix) :])
    return None


def brand_of(number: str) -> str:
    for brand, prefixes in _BRAND_PREFIXES:
        if number.startswith(prefixes):
            return brand
    return "unknown"


def fingerprint(number: str) -> str:
    """A stable per-card id that does not reveal the number (like Stripe's)."""
    return hmac.new(b"mock-provider-fingerprint", number.encode(), hashlib.sha256).hexdigest()[:16]


def card_error(message: str, code: str, param: str) -> StripeError:
    return StripeError(402, message, type="card_error", code=code, param=param)


@dataclass(frozen=True)
class CheckedCard:
    """What survives of a card once it has been checked: no number, no CVC."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    funding: str
    country: str
    fingerprint: str
    decline: Decline | None
    authentication: str | None = None


def check_card(
    number: str, exp_month: int, exp_year: int, cvc: str | None, year: int, month: int
) -> CheckedCard:
    """Validate a card as Stripe does on PaymentMethod creation; ``year/month`` is today."""
    digits = number.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise card_error("Your card number is incorrect.", "incorrect_number", "number")
    if not luhn_ok(digits):
        raise card_error("Your card number is incorrect.", "incorrect_number", "number")
    if not 1 <= exp_month <= 12:
        raise card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month"
        )
    if exp_year < 100:
        exp_year += 2000
    if exp_year < year or exp_year > year + 50:
        raise card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "exp_year"
        )
    if exp_year == year and exp_month < month:
        raise card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month"
        )
    if cvc is not None and not (cvc.isascii() and cvc.isdigit() and 3 <= len(cvc) <= 4):
        raise card_error("Your card's security code is invalid.", "invalid_cvc", "cvc")
    known = CARDS.get(digits)
    return CheckedCard(
        brand=known.brand if known else brand_of(digits),
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        funding=known.funding if known else "credit",
        country=known.country if known else "US",
        fingerprint=fingerprint(digits),
        decline=known.decline if known else None,
        authentication=known.authentication if known else None,
    )
