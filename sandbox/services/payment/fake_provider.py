"""An in-memory PaymentProvider for unit tests: test cards, idempotency keys, failures.

It keeps the provider's promises that the handlers rely on: the same idempotency key
returns the first result (so a retry is never a second charge), a declined confirm
leaves the intent open, refunds never exceed the charge.  ``fail_next`` makes the next
calls fail as a provider outage would, before or after the provider acted.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sandbox.cards import luhn_ok
from sandbox.services.payment.model import CardInput
from sandbox.services.payment.provider import (
    OPEN_STATUSES,
    CardDeclined,
    CardMethod,
    GatewayError,
    Intent,
    ProviderRefund,
    ProviderRefused,
    map_decline,
)

T = TypeVar("T")

# number -> (stripe code, decline code, message)
DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": (
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
}
BRANDS = (("34", "amex"), ("37", "amex"), ("5", "mastercard"), ("4", "visa"))


@dataclass
class _Failure:
    calls: int
    after: bool  # act first, then fail (the provider charged, the answer was lost)
    only: str | None  # the call that fails (create_intent, confirm_intent, ...); None: any


class FakeProvider:
    """PaymentProvider in memory; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.intents: dict[str, Intent] = {}
        self.refunds: dict[str, list[ProviderRefund]] = {}
        self._done: dict[str, Any] = {}
        self._failure: _Failure | None = None
        self.calls: list[str] = []
        self.reachable = True

    # -- test controls ---------------------------------------------------------------

    def fail_next(
        self, calls: int = 1, *, after_acting: bool = False, only: str | None = None
    ) -> None:
        """Make the next ``calls`` mutating calls (named ``only``) raise GatewayError."""
        self._failure = _Failure(calls, after_acting, only) if calls > 0 else None

    def succeed_intent(self, intent_id: str) -> Intent:
        """What a client confirming the intent at the provider would do."""
        with self._lock:
            intent = replace(self.intents[intent_id], status="succeeded", decline=None)
            self.intents[intent_id] = intent
            return intent

    # -- PaymentProvider ---------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"

    def _idempotent(self, name: str, key: str, action: Callable[[], T]) -> T:
        with self._lock:
            self.calls.append(name)
            failure, lost_answer = self._failure, False
            if failure is not None and failure.only in (None, name):
                failure.calls -= 1
                if failure.calls <= 0:
                    self._failure = None
                if not failure.after:
                    raise GatewayError("injected: the provider did not answer")
                lost_answer = True
            if key in self._done:
                result = self._done[key]
            else:
                try:
                    result = action()
                except (CardDeclined, ProviderRefused) as exc:
                    result = exc
                self._done[key] = result
            if lost_answer:
                raise GatewayError("injected: the answer was lost after the provider acted")
            if isinstance(result, Exception):
                raise result
            return result

    def create_intent(
        self,
        *,
        amount_minor: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        receipt_email: str | None = None,
    ) -> Intent:
        def act() -> Intent:
            pid = self._id("pi")
            intent = Intent(
                pid,
                "requires_payment_method",
                amount_minor,
                currency.upper(),
                f"{pid}_secret_x",
                dict(metadata),
            )
            self.intents[pid] = intent
            return intent

        return self._idempotent("create_intent", idempotency_key, act)

    def confirm_with_card(
        self, intent_id: str, card: CardInput, *, idempotency_key: str
    ) -> tuple[Intent, CardMethod | None]:
        def act() -> tuple[Intent, CardMethod | None]:
            intent = self.intents[intent_id]
            if intent.status not in OPEN_STATUSES:
                raise ProviderRefused(
                    f"intent is {intent.status}", "payment_intent_unexpected_state", intent
                )
            number = card.number
            if not number.isdigit() or not luhn_ok(number):
                raise CardDeclined(
                    map_decline("incorrect_number", None, "Your card number is incorrect.")
                )
            if card.expired(datetime.now(UTC)):
                raise CardDeclined(
                    map_decline(
                        "invalid_expiry_year",
                        None,
                        "Your card's expiration year is invalid.",
                        card_expired=True,
                    )
                )
            brand = next((b for prefix, b in BRANDS if number.startswith(prefix)), "unknown")
            method = CardMethod(self._id("pm"), brand, number[-4:])
            known = DECLINES.get(number)
            if known:
                decline = map_decline(*known)
                self.intents[intent_id] = replace(
                    intent, status="requires_payment_method", decline=decline
                )
                raise CardDeclined(decline, method)
            done = replace(intent, status="succeeded", decline=None)
            self.intents[intent_id] = done
            return done, method

        return self._idempotent("confirm_with_card", idempotency_key, act)

    def retrieve_intent(self, intent_id: str) -> Intent:
        with self._lock:
            self.calls.append("retrieve_intent")
            if not self.reachable:
                raise GatewayError("injected: unreachable")
            if intent_id not in self.intents:
                raise ProviderRefused(f"No such payment_intent: {intent_id}", "resource_missing")
            return self.intents[intent_id]

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        def act() -> Intent:
            intent = self.intents[intent_id]
            if intent.status not in OPEN_STATUSES:
                raise ProviderRefused(
                    f"intent is {intent.status}", "payment_intent_unexpected_state", intent
                )
            done = replace(intent, status="canceled")
            self.intents[intent_id] = done
            return done

        return self._idempotent("cancel_intent", idempotency_key, act)

    def refund(
        self,
        intent_id: str,
        *,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ProviderRefund:
        def act() -> ProviderRefund:
            intent = self.intents[intent_id]
            done = sum(r.amount_minor for r in self.refunds.get(intent_id, []))
            if intent.status != "succeeded" or done + amount_minor > intent.amount_minor:
                raise ProviderRefused("refund exceeds the charge", "amount_too_large")
            refund = ProviderRefund(self._id("re"), amount_minor, "succeeded")
            self.refunds.setdefault(intent_id, []).append(refund)
            return refund

        return self._idempotent("refund", idempotency_key, act)

    def ping(self) -> None:
        if not self.reachable:
            raise GatewayError("injected: unreachable")
