"""The payment domain: states, the one table of transitions between them, the payment.

States (``Payment.status``)::

    pending ──> completed ──> partially_refunded ──> refunded
       │  ╲         └──────────────────────────────> refunded
       │   ╲──> failed ──> completed   (retry after a gateway error, or the intent
       │          │                      succeeding later: webhooks)
       │          └──> cancelled
       └──> cancelled

``failed`` carries ``retryable``: True after a provider failure (timeout, 5xx, no
connection), when the outcome at the provider is unknown and a retry with the same
Idempotency-Key re-attempts the same provider transaction; False after a decline.  What
may follow a failure depends on why it failed, so the state machine below knows three
failed states.

``TRANSITIONS`` is the state machine: for each state and each thing that can happen to
a payment (an *event* of the machine: ``SUCCEED``, ``DECLINE``, ...), the move it makes
and the payment event it publishes.  The card handler, the webhooks, refunds and cancel
all move payments through it (``storage.Tx.apply``); a move it does not list is refused
(``InvalidTransition``).

Card data never enters this module: a payment knows the brand and the last four digits.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sandbox.services.common.times import iso as iso
from sandbox.services.common.times import utc_now

now = utc_now  # the domain's clock

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

# -- the state machine ----------------------------------------------------------------

# What can happen to a payment.
OPEN = "open"  # an intent was created at the provider and the payment recorded
SUCCEED = "succeed"  # the provider charged it (a confirmed card, or the intent's webhook)
DECLINE = "decline"  # the provider refused the card: nothing was charged
GATEWAY_FAIL = "gateway_fail"  # the provider did not answer: the outcome is unknown
CANCEL = "cancel"  # the intent was cancelled at the provider
REFUND_PART = "refund_part"  # a refund that leaves part of the amount
REFUND_REST = "refund_rest"  # a refund of everything that was left
EVENTS = (OPEN, SUCCEED, DECLINE, GATEWAY_FAIL, CANCEL, REFUND_PART, REFUND_REST)

# Where a payment stands: its status, with ``failed`` told apart by what may follow.
NEW = "new"  # no payment yet
FAILED_UNKNOWN = "failed/gateway"  # retryable: the provider's outcome is unknown
FAILED_OPEN = "failed/intent"  # an intent declined: its client may confirm again
FAILED_FINAL = "failed/card"  # a card payment declined: a new payment is needed
STATES = (
    NEW,
    PENDING,
    FAILED_UNKNOWN,
    FAILED_OPEN,
    FAILED_FINAL,
    COMPLETED,
    PARTIALLY_REFUNDED,
    REFUNDED,
    CANCELLED,
)
# Each state in a payment's stored fields: status, retryable, flow (None: any).
STATE_FIELDS: dict[str, tuple[str, bool | None, str | None]] = {
    PENDING: (PENDING, None, None),
    FAILED_UNKNOWN: (FAILED, True, None),
    FAILED_OPEN: (FAILED, False, INTENT_FLOW),
    FAILED_FINAL: (FAILED, False, CARD_FLOW),
    COMPLETED: (COMPLETED, None, None),
    PARTIALLY_REFUNDED: (PARTIALLY_REFUNDED, None, None),
    REFUNDED: (REFUNDED, None, None),
    CANCELLED: (CANCELLED, None, None),
}


@dataclass(frozen=True)
class Move:
    """Where a transition takes a payment, and the event (routing key) it publishes."""

    status: str
    retryable: bool = False
    emits: str | None = None


_COMPLETE = Move(COMPLETED, emits="payment.completed")
_DECLINED = Move(FAILED, emits="payment.failed")
_CANCELLED = Move(CANCELLED, emits="payment.cancelled")
_PART_REFUNDED = Move(PARTIALLY_REFUNDED, emits="payment.refunded")
_REFUNDED = Move(REFUNDED, emits="payment.refunded")

TRANSITIONS: dict[tuple[str, str], Move] = {
    (NEW, OPEN): Move(PENDING, emits="payment.created"),
    (PENDING, SUCCEED): _COMPLETE,
    (PENDING, DECLINE): _DECLINED,
    (PENDING, GATEWAY_FAIL): Move(FAILED, retryable=True, emits="payment.failed"),
    (PENDING, CANCEL): _CANCELLED,
    (FAILED_UNKNOWN, SUCCEED): _COMPLETE,  # the retry (or the first attempt) went through
    (FAILED_UNKNOWN, DECLINE): _DECLINED,  # the retry was declined
    # failed again: still unknown, nothing new to tell anyone
    (FAILED_UNKNOWN, GATEWAY_FAIL): Move(FAILED, retryable=True),
    (FAILED_UNKNOWN, CANCEL): _CANCELLED,  # given up, or abandoned for a new payment
    (FAILED_OPEN, SUCCEED): _COMPLETE,  # the client confirmed again with another card
    (FAILED_OPEN, CANCEL): _CANCELLED,
    (FAILED_FINAL, SUCCEED): _COMPLETE,  # the provider's intent succeeded after all
    (COMPLETED, REFUND_PART): _PART_REFUNDED,
    (COMPLETED, REFUND_REST): _REFUNDED,
    (PARTIALLY_REFUNDED, REFUND_PART): _PART_REFUNDED,
    (PARTIALLY_REFUNDED, REFUND_REST): _REFUNDED,
}

_DOING = {
    OPEN: "opened",
    SUCCEED: "completed",
    DECLINE: "declined",
    GATEWAY_FAIL: "failed",
    CANCEL: "cancelled",
    REFUND_PART: "refunded",
    REFUND_REST: "refunded",
}

# Statuses that hold the booking: a second payment for it is DUPLICATE_TRANSACTION.
HOLDS_BOOKING = (PENDING, COMPLETED, PARTIALLY_REFUNDED)
REFUNDABLE = (COMPLETED, PARTIALLY_REFUNDED)


class PaymentError(Exception):
    """A request the payment service refuses: a code, a message a person can act on, and
    details (the field at fault, the payment, whether a retry may help)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class InvalidTransition(ValueError):
    """The state machine has no move for ``event`` from where the payment stands."""

    def __init__(self, state: str, event: str, payment_id: str | None = None) -> None:
        self.state = state
        self.status = STATE_FIELDS[state][0] if state in STATE_FIELDS else None
        self.event = event
        self.payment_id = payment_id
        where = "a payment not yet opened" if state == NEW else f"a {self.status} payment"
        super().__init__(f"{where} cannot be {_DOING.get(event, event)}")


def state_of(payment: Payment | None) -> str:
    """The machine's state of ``payment`` (``NEW`` for none)."""
    if payment is None:
        return NEW
    if payment.status != FAILED:
        return payment.status
    if payment.retryable:
        return FAILED_UNKNOWN
    return FAILED_OPEN if payment.flow == INTENT_FLOW else FAILED_FINAL


def allows(payment: Payment | None, event: str) -> bool:
    return (state_of(payment), event) in TRANSITIONS


def step(payment: Payment | None, event: str) -> Move:
    """The move ``event`` makes from where ``payment`` stands; InvalidTransition if none."""
    state = state_of(payment)
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event, payment.id if payment else None) from None


def chargeable(payment: Payment) -> bool:
    """Whether a card charge may be (re)attempted: its every outcome is a move from here."""
    return all(allows(payment, event) for event in (SUCCEED, DECLINE, GATEWAY_FAIL))


def require(payment: Payment, event: str) -> None:
    """Refuse (InvalidTransition) unless the machine allows ``event`` for ``payment``."""
    step(payment, event)


@functools.cache
def sources(event: str, move: Move) -> tuple[str, ...]:
    """The states from which ``event`` makes ``move``."""
    return tuple(
        state
        for (state, happened), made in TRANSITIONS.items()
        if (happened, made) == (event, move)
    )


def refund_event(payment: Payment, amount_minor: int) -> str:
    """``REFUND_REST`` when ``amount_minor`` refunds everything left, else ``REFUND_PART``."""
    rest = payment.refunded_minor + amount_minor >= payment.amount_minor
    return REFUND_REST if rest else REFUND_PART


def event_for(from_status: str | None, to_status: str) -> str | None:
    """The routing key a status change publishes; InvalidTransition when none may happen."""
    state = NEW if from_status is None else from_status
    keys = [
        move.emits
        for (source, _), move in TRANSITIONS.items()
        if (source == state or STATE_FIELDS.get(source, (None,))[0] == from_status)
        and move.status == to_status
    ]
    if not keys:
        raise InvalidTransition(state, f"moved to {to_status}")
    return next((key for key in keys if key), None)


def new_transaction_id() -> str:
    return f"TXN-{secrets.token_hex(8).upper()}"


def new_refund_id() -> str:
    return f"REF-{secrets.token_hex(8).upper()}"


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
