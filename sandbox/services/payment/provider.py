"""The payment provider adapter: the only code that talks to the provider (stripe SDK).

Handlers see the small ``PaymentProvider`` interface and three outcomes besides success:
``CardDeclined`` (the card was refused; mapped to seed 003's codes), ``GatewayError``
(timeout, 5xx, no connection, refused credentials: the outcome is unknown and the call
may be repeated with the same idempotency key) and ``ProviderRefused`` (the provider
understood and said no, e.g. an over-refund or an intent in the wrong state).

Every mutating call carries an idempotency key derived from our own ids, so a repeated
attempt is the same provider transaction and never a second charge.  Pointing the
service at Stripe's test mode instead of the mock is a change of ``PROVIDER_URL`` and
``PROVIDER_API_KEY``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import stripe

from sandbox.services.payment.model import CardInput
from sandbox.services.payment.provider_http import PooledStripeClient

OPEN_STATUSES = ("requires_payment_method", "requires_confirmation", "requires_action")
# a confirm's card: a new PaymentMethod made from it on the way (Stripe's payment_method_data)
CARD_PARAM = "payment_method_data"


@dataclass(frozen=True)
class Decline:
    """A refused card: our API's error code, the provider's message and codes."""

    code: str
    message: str
    provider_code: str | None = None
    decline_code: str | None = None

    @property
    def retry_possible(self) -> bool:
        return self.provider_code == "processing_error"


@dataclass(frozen=True)
class NextAction:
    """What the customer must do before the card is charged (3D Secure): the provider's
    ``next_action.type`` and the URL where they authenticate."""

    type: str
    url: str | None


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    amount_minor: int
    currency: str
    client_secret: str | None = field(default=None, repr=False)
    metadata: dict[str, str] = field(default_factory=dict)
    decline: Decline | None = None
    next_action: NextAction | None = None


@dataclass(frozen=True)
class CardMethod:
    id: str
    brand: str | None
    last4: str | None


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    amount_minor: int
    status: str


class ProviderError(Exception):
    """Anything that kept a provider call from succeeding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CardDeclined(ProviderError):
    def __init__(self, decline: Decline, card: CardMethod | None = None) -> None:
        super().__init__(decline.message)
        self.decline = decline
        self.card = card


class GatewayError(ProviderError):
    """The provider could not be reached or failed: timeout, 5xx, connection, auth."""


class ProviderRefused(ProviderError):
    def __init__(
        self,
        message: str,
        code: str | None,
        intent: Intent | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.intent = intent
        self.param = param

    @property
    def card_refused(self) -> bool:
        """The card sent with a confirm was refused, not the confirm itself."""
        return (self.param or "").startswith(CARD_PARAM)


class PaymentProvider(Protocol):
    def create_intent(
        self,
        *,
        amount_minor: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        receipt_email: str | None = None,
    ) -> Intent: ...

    def confirm_with_card(
        self, intent_id: str, card: CardInput, *, idempotency_key: str
    ) -> tuple[Intent, CardMethod | None]: ...

    def retrieve_intent(self, intent_id: str) -> Intent: ...

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent: ...

    def refund(
        self,
        intent_id: str,
        *,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ProviderRefund: ...

    def ping(self) -> None: ...


# -- decline codes -> seed 003's error codes ------------------------------------------------

_INVALID_CARD_CODES = frozenset(
    {"incorrect_number", "invalid_number", "invalid_cvc", "incorrect_cvc", "incorrect_zip"}
)
_EXPIRY_CODES = frozenset({"invalid_expiry_month", "invalid_expiry_year"})


def map_decline(
    provider_code: str | None,
    decline_code: str | None,
    message: str | None,
    *,
    card_expired: bool = False,
) -> Decline:
    """Seed 003's code for a provider's card error."""
    codes = {provider_code, decline_code}
    if "insufficient_funds" in codes:
        code = "INSUFFICIENT_FUNDS"
    elif "expired_card" in codes:
        code = "CARD_EXPIRED"
    elif codes & _EXPIRY_CODES:
        # The provider refuses a past expiry date as "invalid"; to the payer it is expired.
        code = "CARD_EXPIRED" if card_expired else "INVALID_CARD"
        if card_expired:
            message = "Your card has expired."
    elif codes & _INVALID_CARD_CODES:
        code = "INVALID_CARD"
    else:
        code = "CARD_DECLINED"
    return Decline(code, message or "The card was declined.", provider_code, decline_code)


# -- the stripe SDK implementation ------------------------------------------------------------


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (or dict) as a plain dict, nested objects included."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {}


def _intent(obj: Any) -> Intent:
    data = _plain(obj)
    error = data.get("last_payment_error")
    decline = None
    if isinstance(error, dict):
        decline = map_decline(error.get("code"), error.get("decline_code"), error.get("message"))
    metadata = data.get("metadata")
    action = data.get("next_action")
    return Intent(
        id=str(data["id"]),
        status=str(data["status"]),
        amount_minor=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret"),
        metadata={str(k): str(v) for k, v in (metadata or {}).items()},
        decline=decline,
        next_action=_next_action(action) if isinstance(action, dict) else None,
    )


def _card_method(data: Any) -> CardMethod | None:
    """A PaymentMethod (expanded, or in a card error) as the card's brand and last4."""
    if not isinstance(data, dict) or not data.get("id"):
        return None
    details = data.get("card") or {}
    return CardMethod(str(data["id"]), details.get("brand"), details.get("last4"))


def _next_action(action: dict[str, Any]) -> NextAction:
    kind = str(action.get("type"))
    details = action.get(kind)
    found = details if isinstance(details, dict) else {}
    # redirect_to_url.url, or use_stripe_sdk.stripe_js (what Stripe.js would open)
    url = found.get("url") or found.get("stripe_js")
    return NextAction(kind, url if isinstance(url, str) else None)


class StripeProvider:
    """PaymentProvider over the official stripe SDK, pointed at ``base_url``."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        max_network_retries: int = 0,
        pool_size: int = 16,
    ) -> None:
        # The SDK logs request parameters (card numbers included) at DEBUG and one line
        # per call at INFO; neither belongs in our logs.
        logging.getLogger("stripe").setLevel(logging.WARNING)
        # one keep-alive pool shared by the request threads (provider_http.py)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url},
            http_client=PooledStripeClient(base_url, timeout_s=timeout_s, pool_size=pool_size),
            max_network_retries=max_network_retries,
        )
        # Health probes must answer quickly even when payment calls may wait longer.
        self._probe = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url},
            http_client=PooledStripeClient(base_url, timeout_s=min(timeout_s, 2.0), pool_size=2),
            max_network_retries=0,
        )

    def create_intent(
        self,
        *,
        amount_minor: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        receipt_email: str | None = None,
    ) -> Intent:
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        if receipt_email:
            params["receipt_email"] = receipt_email
        with _translated():
            obj = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return _intent(obj)

    def confirm_with_card(
        self, intent_id: str, card: CardInput, *, idempotency_key: str
    ) -> tuple[Intent, CardMethod | None]:
        """Confirm the intent with the card itself: one call, in which the provider makes
        the card a PaymentMethod (expanded in the answer, for its brand and last4)."""
        params: dict[str, Any] = {
            CARD_PARAM: {
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc,
                },
                "billing_details": {"name": card.holder},
            },
            "expand": ["payment_method"],
        }
        expired = card.expired(datetime.now(UTC))
        with _translated(card_expired=expired):
            obj = self._client.v1.payment_intents.confirm(
                intent_id,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        data = _plain(obj)
        return _intent(data), _card_method(data.get("payment_method"))

    def retrieve_intent(self, intent_id: str) -> Intent:
        with _translated():
            obj = self._client.v1.payment_intents.retrieve(intent_id)
        return _intent(obj)

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        with _translated():
            obj = self._client.v1.payment_intents.cancel(
                intent_id,
                params={"cancellation_reason": "requested_by_customer"},
                options={"idempotency_key": idempotency_key},
            )
        return _intent(obj)

    def refund(
        self,
        intent_id: str,
        *,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ProviderRefund:
        with _translated():
            obj = self._client.v1.refunds.create(
                params={
                    "payment_intent": intent_id,
                    "amount": amount_minor,
                    "reason": "requested_by_customer",
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        data = _plain(obj)
        return ProviderRefund(str(data["id"]), int(data["amount"]), str(data["status"]))

    def ping(self) -> None:
        with _translated():
            self._probe.v1.payment_intents.list(params={"limit": 1})


@contextmanager
def _translated(*, card_expired: bool = False) -> Iterator[None]:
    """Turn the SDK's exceptions into the three outcomes handlers know."""
    try:
        yield
    except stripe.StripeError as exc:
        raise translate(exc, card_expired=card_expired) from None


def translate(exc: stripe.StripeError, *, card_expired: bool = False) -> ProviderError:
    status = exc.http_status or 0
    error = _plain(getattr(exc, "error", None))
    message = str(error.get("message") or exc.user_message or type(exc).__name__)
    if isinstance(exc, stripe.CardError):
        decline = map_decline(
            exc.code, error.get("decline_code"), message, card_expired=card_expired
        )
        return CardDeclined(decline, _card_method(error.get("payment_method")))
    if isinstance(exc, stripe.APIConnectionError):
        return GatewayError(f"the payment provider did not answer: {message}")
    if status >= 500 or status in (401, 403, 429) or isinstance(exc, stripe.APIError):
        return GatewayError(f"the payment provider failed (HTTP {status}): {message}")
    raw_intent = error.get("payment_intent")
    intent = _intent(raw_intent) if isinstance(raw_intent, dict) else None
    param = error.get("param")
    return ProviderRefused(
        message, error.get("code") or exc.code, intent, param if isinstance(param, str) else None
    )
