"""Card-number arithmetic shared by the mock provider and the payment service's fake."""

from __future__ import annotations


def luhn_ok(number: str) -> bool:
    """True when ``number`` (digits only) passes the Luhn check every card number carries."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
