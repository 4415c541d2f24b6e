"""Money: request amounts (JSON numbers in major units) to integer minor units and back.

Amounts are stored and sent to the provider as integers in the currency's minor unit
(cents for USD, yen for JPY).  A JSON number is read through its shortest decimal form,
so ``25.5`` is exactly 2550 cents and ``0.1 + 0.2`` (0.30000000000000004) is refused
instead of being rounded into a different charge.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 currencies without a minor unit (Stripe's zero-decimal list).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# Three-decimal currencies: the event contracts carry at most two decimals.
THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])
# The largest amount in major units: the provider charges at most 99,999,999 minor units
# (and the event contracts allow up to 1,000,000).
MAX_MAJOR = Decimal("999999.99")


class AmountError(ValueError):
    """An amount that cannot be charged: not positive, too many decimals, too large."""


class CurrencyError(ValueError):
    """A currency the service cannot carry in its events."""


def exponent(currency: str) -> int:
    code = currency.upper()
    if code in THREE_DECIMAL:
        raise CurrencyError(
            f"{code} has three decimal places; the service handles currencies with 0 or 2"
        )
    return 0 if code in ZERO_DECIMAL else 2


def to_minor(amount: float | int, currency: str, what: str = "amount") -> int:
    """``amount`` in major units as an integer number of minor units, or AmountError."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise AmountError(f"{what} must be a number")
    try:
        value = Decimal(repr(amount))
    except InvalidOperation:
        raise AmountError(f"{what} must be a finite number") from None
    if not value.is_finite():
        raise AmountError(f"{what} must be a finite number")
    if value <= 0:
        raise AmountError(f"{what} must be greater than 0")
    if value > MAX_MAJOR:
        raise AmountError(f"{what} must be at most {MAX_MAJOR}")
    places = exponent(currency)
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        unit = "whole units" if places == 0 else f"at most {places} decimal places"
        raise AmountError(f"{what} must have {unit} for {currency.upper()}")
    return int(minor)


def to_major(minor: int, currency: str) -> float | int:
    """Minor units back to the JSON number of the API and the events (25.5, 75.0, 500)."""
    places = exponent(currency)
    if places == 0:
        return minor
    return minor / 10**places
