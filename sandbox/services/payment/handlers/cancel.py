"""Cancelling a payment on request (``POST /payment/{id}/cancel``).

The state machine says which payments may be cancelled (``model.CANCEL``): pending
ones, card payments failed by a gateway error, and declined intents (their client could
still confirm them).  The caller's reason is written down first, because the provider's
own ``payment_intent.canceled`` webhook may record the cancellation before this request
does, and then it takes the caller's reason.  The provider cancels the intent, so that
nothing can charge it later, and the payment is moved to ``cancelled`` once, by
whichever path comes first.
"""

from __future__ import annotations

from sandbox.services.payment import model
from sandbox.services.payment.handlers.base import (
    Cancelled,
    Context,
    Deps,
    find,
    gateway_error,
)
from sandbox.services.payment.handlers.cards import completed, record_cancelled
from sandbox.services.payment.model import PaymentError
from sandbox.services.payment.provider import GatewayError, ProviderRefused


def cancel_payment(deps: Deps, ctx: Context, payment_id: str, reason: str | None) -> Cancelled:
    payment = find(deps, ctx, payment_id)
    model.require(payment, model.CANCEL)
    assert payment.provider_intent_id is not None
    why = reason or "cancelled on request"
    with deps.storage.begin() as tx:
        tx.request_cancel(payment.id, why)
    try:
        deps.provider.cancel_intent(
            payment.provider_intent_id, idempotency_key=f"{payment.id}-cancel"
        )
    except GatewayError as exc:
        raise gateway_error(exc.message) from None
    except ProviderRefused as exc:
        if exc.intent is not None and exc.intent.status == "succeeded":
            completed(deps, payment, None)
        if exc.intent is None or exc.intent.status != "canceled":
            raise PaymentError(
                "CANCEL_NOT_ALLOWED",
                f"the provider refused to cancel: {exc.message}",
                transaction_id=payment.id,
            ) from None
    current = (
        record_cancelled(deps, payment, why) or deps.storage.get_payment(payment.id) or payment
    )
    if current.status != model.CANCELLED:
        raise PaymentError(
            "CANCEL_NOT_ALLOWED",
            f"the payment became {current.status} meanwhile",
            transaction_id=payment.id,
            status=current.status,
        )
    return Cancelled(current, why)
