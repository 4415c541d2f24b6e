"""The payment domain: states, the transitions between them, and what each one emits.

States (``Payment.status``)::

    pending ──> completed ──> partially_refunded ──> refunded
       │  ╲         └──────────────────────────────> refunded
       │   ╲──> failed ──> completed   (retry after a gateway error, or the intent
       │          │                      succeeding later: webhooks)
       │          └──> cancelled
       └──> cancelled

``failed`` carries ``retryable``: True after a provider failure (timeout, 5xx, no
connection), when the outcome at the provider is unknown and a retry with the same
Idempotency-Key re-attempts the same provider transaction; False after a decline.

Card data never enters this module: a payment knows the brand and the last four digits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

PENDING = "pending"
COMPLETED = "completed"
FAILED = "failed"
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"
CANCELLED = "cancelled"
STATUSES = (PENDING, COMPLETED, FAILED, PARTIALLY_REFUNDED, REFUNDED, CANCELLED)

CARD_FLOW = "card"
INTENT_FLOW = "intent"

CARD_METHODS = ("credit_card", "debit_card")
GATEWAY_ERROR = "PAYMENT_GATEWAY_ERROR"

# The event each transition emits (routing key); None: no event.
TRANSITIONS: dict[tuple[str | None, str], str | None] = {
    (None, PENDING): "payment.created",
    (PENDING, COMPLETED): "payment.completed",
    (PENDING, FAILED): "payment.failed",
    (PENDING, CANCELLED): "payment.cancelled",
    (FAILED, COMPLETED): "payment.completed",
    (FAILED, FAILED): "payment.failed",
    (FAILED, CANCELLED): "payment.cancelled",
    (COMPLETED, PARTIALLY_REFUNDED): "payment.refunded",
    (COMPLETED, REFUNDED): "payment.refunded",
    (PARTIALLY_REFUNDED, PARTIALLY_REFUNDED): "payment.refunded",
    (PARTIALLY_REFUNDED, REFUNDED): "payment.refunded",
}

# Statuses that hold the booking: a second payment for it is DUPLICATE_TRANSACTION.
HOLDS_BOOKING = (PENDING, COMPLETED, PARTIALLY_REFUNDED)
REFUNDABLE = (COMPLETED, PARTIALLY_REFUNDED)


class InvalidTransition(ValueError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds and Z, as the events and the API write times."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_transaction_id() -> str:
    return f"TXN-{secrets.token_hex(8).upper()}"


def new_refund_id() -> str:
    return f"REF-{secrets.token_hex(8).upper()}"


def event_for(from_status: str | None, to_status: str) -> str | None:
    """The routing key a transition emits; InvalidTransition when it is not allowed."""
    try:
        return TRANSITIONS[(from_status, to_status)]
    except KeyError:
        raise InvalidTransition(
            f"{from_status} -> {to_status} is not a payment transition"
        ) from None


def holds_booking(status: str, retryable: bool) -> bool:
    """Whether a payment in this state blocks another payment for its booking."""
    return status in HOLDS_BOOKING or (status == FAILED and retryable)


@dataclass(frozen=True)
class CardInput:
    """Card details as received; they go to the provider and nowhere else."""

    number: str = field(repr=False)
    exp_month: int = field(repr=False)
    exp_year: int = field(repr=False)
    cvc: str = field(repr=False)
    holder: str = field(repr=False)

    def expired(self, at: datetime) -> bool:
        return (self.exp_year, self.exp_month) < (at.year, at.month)


@dataclass(frozen=True)
class Customer:
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Payment:
    """One payment as stored (``payment_payments``)."""

    id: str
    tenant_id: str
    booking_id: str
    user_id: str
    amount_minor: int
    currency: str
    payment_method: str
    flow: str
    status: str
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    refunded_minor: int = 0
    retryable: bool = False
    provider_intent_id: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    customer: Customer = field(default_factory=Customer)
    processed_at: datetime | None = None

    @property
    def remaining_minor(self) -> int:
        return self.amount_minor - self.refunded_minor

    def with_changes(self, **changes: Any) -> Payment:
        return replace(self, **changes)


@dataclass(frozen=True)
class Refund:
    """One refund of a payment (``payment_refunds``)."""

    id: str
    payment_id: str
    tenant_id: str
    amount_minor: int
    reason: str
    status: str  # pending, succeeded, failed
    created_at: datetime
    provider_refund_id: str | None = None
