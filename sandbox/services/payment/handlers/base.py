"""What every payment handler shares: its dependencies, who is asking, what it answers.

Handlers are plain functions: a request (``PaymentRequest``, ``RefundRequest``, a
webhook delivery) in, a state change and its events out, and a domain outcome back (a
payment as it now is, a refund, a cancellation, a webhook's outcome).  They know no
HTTP: a refusal is a ``PaymentError`` with a code, or the state machine's
``InvalidTransition``, and ``api``/``replies`` turn outcomes and refusals into answers.
Every change of a payment's status is a move of the state machine (``move``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sandbox.messaging import OutgoingMessage
from sandbox.services.payment import events, model
from sandbox.services.payment.bookings import Bookings
from sandbox.services.payment.model import CardInput, Customer, Payment, PaymentError, Refund
from sandbox.services.payment.provider import Decline, Intent, PaymentProvider
from sandbox.services.payment.settings import PaymentSettings
from sandbox.services.payment.storage import Storage, Tx
from sandbox.services.payment.storage_requests import RequestStore


@dataclass(frozen=True)
class Deps:
    """What handlers need, wired by ``api.create_app`` (real) or tests (fakes)."""

    storage: Storage
    requests: RequestStore
    provider: PaymentProvider
    settings: PaymentSettings
    # None: no appointment service to ask; every booking is external
    bookings: Bookings | None = None


@dataclass(frozen=True)
class Context:
    """Who is asking: tenant, flow id, and the Idempotency-Key's state.

    ``answer``: stores the request's answer under its Idempotency-Key in the transaction
    that records a charge's outcome (``cards``), so that the outcome and the answer a
    retry replays commit together, in one write instead of two.  None: nothing to store,
    or the caller stores it afterwards.
    """

    tenant_id: str
    correlation_id: str
    idempotency_key: str | None = None
    resume_id: str | None = None
    answer: Callable[[Tx, Charged], None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PaymentRequest:
    user_id: str
    booking_id: str
    amount_minor: int
    currency: str
    payment_method: str
    card: CardInput | None = None
    customer: Customer = field(default_factory=Customer)


@dataclass(frozen=True)
class RefundRequest:
    booking_id: str
    transaction_id: str
    refund_amount: float
    reason: str
    user_id: str


# -- outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Charged:
    """A card payment as it now is, and the decline when this request recorded one, or
    the authentication (3D Secure) the customer must make before it is charged."""

    payment: Payment
    decline: Decline | None = None
    authentication: Intent | None = None


@dataclass(frozen=True)
class IntentOpened:
    """A payment of the intent flow, with the secret its client confirms with."""

    payment: Payment
    client_secret: str | None


@dataclass(frozen=True)
class Cancelled:
    payment: Payment
    reason: str


@dataclass(frozen=True)
class Refunded:
    """A payment after a refund, and that refund."""

    payment: Payment
    refund: Refund


@dataclass(frozen=True)
class WebhookHandled:
    """What a delivered provider event did (``outcome``) and, when rejected, why."""

    event_id: str
    outcome: str
    reason: str | None = None


# -- shared steps -----------------------------------------------------------------------


def gateway_error(message: str) -> PaymentError:
    return PaymentError(
        model.GATEWAY_ERROR,
        f"the payment provider failed: {message}",
        retry_possible=True,
    )


def find(deps: Deps, ctx: Context, payment_id: str) -> Payment:
    """The tenant's payment; another tenant's payment does not exist for it."""
    payment = deps.storage.get_payment(payment_id, ctx.tenant_id)
    if payment is None:
        raise PaymentError(
            "TRANSACTION_NOT_FOUND",
            f"no transaction {payment_id} for this tenant",
            field="transaction_id",
        )
    return payment


def move(
    tx: Tx,
    payment: Payment,
    event: str,
    *,
    detail: str,
    at: datetime,
    reason: str | None = None,
    refund: Refund | None = None,
    **changes: object,
) -> Payment | None:
    """Make the state machine's move for ``event`` and write the event it publishes.

    Returns the payment as it now is, or None when nothing moved (see ``Tx.apply``).
    """
    done = tx.apply(payment, event, detail=detail, at=at, **changes)
    if done is None:
        return None
    emits = model.step(payment, event).emits
    if emits is not None:
        message: OutgoingMessage = events.message(emits, done, at, reason=reason, refund=refund)
        tx.emit(done.id, [message])
    return done
