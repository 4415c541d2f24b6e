"""The payment API's answers: handlers' outcomes and refusals as HTTP (seed 003's shapes).

The same functions build a first response and the response for a payment read back
later (after a race with a webhook, or on an idempotent resume), so both look alike.
A failed payment answers with seed 003's failure fields *and* its error format, so a
client written against either finds what it reads.  A refusal (``PaymentError``, the
state machine's ``InvalidTransition``) answers in the shared error shape with the HTTP
status of its code (``STATUS``, 400 unless listed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.services.common.web import ApiError, utc_now_iso
from sandbox.services.payment import model
from sandbox.services.payment.handlers import (
    Cancelled,
    Charged,
    IntentOpened,
    Refunded,
    WebhookHandled,
)
from sandbox.services.payment.model import InvalidTransition, Payment, PaymentError, Refund
from sandbox.services.payment.money import to_major
from sandbox.services.payment.provider import Decline, Intent

# The HTTP status of each refusal that is not a plain 400.
STATUS = {
    "TRANSACTION_NOT_FOUND": 404,
    "BOOKING_NOT_FOUND": 404,
    "DUPLICATE_TRANSACTION": 409,
    "WEBHOOK_PAYMENT_NOT_FOUND_YET": 409,
    "WEBHOOK_PAYMENT_CHANGED": 409,
    model.GATEWAY_ERROR: 502,
    "APPOINTMENT_SERVICE_UNAVAILABLE": 503,
    "WEBHOOK_NOT_CONFIGURED": 503,
}
# The code a move the state machine refuses is answered with, by the machine's event.
REFUSED_MOVES = {
    model.CANCEL: "CANCEL_NOT_ALLOWED",
    model.REFUND_PART: "REFUND_NOT_ALLOWED",
    model.REFUND_REST: "REFUND_NOT_ALLOWED",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    # False: an answer about a moment (still in progress), not stored for idempotent replay
    final: bool = True


def card(payment: Payment) -> dict[str, str] | None:
    if payment.card_brand is None and payment.card_last4 is None:
        return None
    return {"brand": payment.card_brand or "unknown", "last4": payment.card_last4 or ""}


def _charge(payment: Payment, status: str) -> dict[str, Any]:
    """What seed 003 answers about a charge, success or failure alike."""
    return {
        "status": status,
        "transaction_id": payment.id,
        "booking_id": payment.booking_id,
        "amount": to_major(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "payment_method": payment.payment_method,
        "payment_status": payment.status,
        "card": card(payment),
    }


def success(payment: Payment) -> dict[str, Any]:
    return {
        **_charge(payment, "success"),
        "processed_at": model.iso(payment.processed_at or payment.updated_at),
        "message": "Payment processed successfully",
    }


def failure(
    payment: Payment, *, retry_possible: bool, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    code = payment.error_code or "PAYMENT_FAILED"
    message = payment.error_message or "the payment failed"
    details: dict[str, Any] = {
        "reason": message,
        "transaction_id": payment.id,
        "retry_possible": retry_possible,
        **(extra or {}),
    }
    return {
        **_charge(payment, "failed"),
        "error_code": code,
        "error_message": message,
        "processed_at": model.iso(payment.processed_at or payment.updated_at),
        "error": {"code": code, "message": message, "details": details},
        "timestamp": utc_now_iso(),
    }


def status(payment: Payment) -> dict[str, Any]:
    error = None
    if payment.error_code:
        error = {
            "code": payment.error_code,
            "message": payment.error_message or "",
            "retryable": payment.retryable,
        }
    return {
        "transaction_id": payment.id,
        "status": payment.status,
        "booking_id": payment.booking_id,
        "user_id": payment.user_id,
        "amount": to_major(payment.amount_minor, payment.currency),
        "refunded_amount": to_major(payment.refunded_minor, payment.currency),
        "currency": payment.currency,
        "payment_method": payment.payment_method,
        "flow": payment.flow,
        "card": card(payment),
        "error": error,
        "created_at": model.iso(payment.created_at),
        "processed_at": model.iso(payment.processed_at),
    }


def intent(payment: Payment, client_secret: str | None) -> dict[str, Any]:
    return {
        "transaction_id": payment.id,
        "status": payment.status,
        "booking_id": payment.booking_id,
        "amount": to_major(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "payment_intent_id": payment.provider_intent_id,
        "client_secret": client_secret,
        "created_at": model.iso(payment.created_at),
    }


def refund(payment: Payment, done: Refund) -> dict[str, Any]:
    return {
        "status": "success",
        "refund_transaction_id": done.id,
        "original_transaction_id": payment.id,
        "booking_id": payment.booking_id,
        "refund_amount": to_major(done.amount_minor, payment.currency),
        "currency": payment.currency,
        "refund_type": "full" if payment.status == model.REFUNDED else "partial",
        "payment_status": payment.status,
        "remaining_amount": to_major(payment.remaining_minor, payment.currency),
        "processed_at": utc_now_iso(),
        "message": "Refund processed successfully",
    }


def cancelled(payment: Payment, reason: str) -> dict[str, Any]:
    return {
        "transaction_id": payment.id,
        "status": payment.status,
        "booking_id": payment.booking_id,
        "reason": reason,
        "cancelled_at": model.iso(payment.updated_at),
    }


def for_payment(payment: Payment, decline: Decline | None = None) -> Reply:
    """What /payment/process answers for a payment as it is now (and the decline this
    request recorded, whose own retry advice it carries)."""
    if payment.status in (model.COMPLETED, model.PARTIALLY_REFUNDED, model.REFUNDED):
        return Reply(200, success(payment))
    if payment.status == model.FAILED and decline is not None:
        extra = {"decline_code": decline.decline_code} if decline.decline_code else {}
        return Reply(400, failure(payment, retry_possible=decline.retry_possible, extra=extra))
    if payment.status == model.FAILED:
        code = 502 if payment.retryable else 400
        return Reply(code, failure(payment, retry_possible=payment.retryable))
    if payment.status == model.CANCELLED:
        cancelled_payment = payment.with_changes(
            error_code="PAYMENT_CANCELLED", error_message="the payment was cancelled"
        )
        return Reply(400, failure(cancelled_payment, retry_possible=False))
    body = {
        "error": {
            "code": "PAYMENT_IN_PROGRESS",
            "message": f"payment {payment.id} is still being processed; ask again shortly",
            "details": {"transaction_id": payment.id, "status": payment.status},
        },
        "timestamp": utc_now_iso(),
    }
    return Reply(409, body, final=False)


def authentication(payment: Payment, intent: Intent) -> dict[str, Any]:
    """What /payment/process answers while the customer must authenticate (3D Secure)."""
    action = intent.next_action
    return {
        **_charge(payment, "requires_action"),
        "payment_intent_id": intent.id,
        "client_secret": intent.client_secret,
        "next_action": {
            "type": action.type if action else "use_stripe_sdk",
            "url": action.url if action else None,
        },
        "message": "The card issuer asks the customer to authenticate (3D Secure); the "
        "payment completes or fails when they have (GET /payment/status/{id}).",
    }


def charged(outcome: Charged) -> Reply:
    if outcome.authentication is not None and outcome.payment.status == model.PENDING:
        # an answer about a moment: a retry with the same key asks again
        return Reply(202, authentication(outcome.payment, outcome.authentication), final=False)
    return for_payment(outcome.payment, outcome.decline)


def intent_opened(outcome: IntentOpened) -> Reply:
    return Reply(201, intent(outcome.payment, outcome.client_secret))


def refunded(outcome: Refunded) -> Reply:
    return Reply(200, refund(outcome.payment, outcome.refund))


def cancellation(outcome: Cancelled) -> Reply:
    return Reply(200, cancelled(outcome.payment, outcome.reason))


def webhook(outcome: WebhookHandled) -> Reply:
    body: dict[str, Any] = {
        "received": True,
        "event_id": outcome.event_id,
        "outcome": outcome.outcome,
    }
    if outcome.reason is not None:
        body["reason"] = outcome.reason
    return Reply(200, body)


def refusal(exc: PaymentError | InvalidTransition) -> ApiError:
    """A handler's refusal as the API's error, with its HTTP status."""
    if isinstance(exc, PaymentError):
        return ApiError(exc.code, exc.message, STATUS.get(exc.code, 400), details=exc.details)
    code = REFUSED_MOVES.get(exc.event)
    if code is None:  # the handlers ask the machine before any other move: a bug
        raise exc
    message = str(exc)
    if exc.event == model.CANCEL and exc.status in model.REFUNDABLE:
        message += " (refund it instead)"
    elif code == "REFUND_NOT_ALLOWED":
        message += "; only completed payments can"
    details = {"transaction_id": exc.payment_id, "status": exc.status}
    return ApiError(code, message, 400, details=details)


def error(api_error: ApiError) -> Reply:
    """An error as a Reply in the shared shape (for answers stored for idempotent replay)."""
    body = {
        "error": {
            "code": api_error.code,
            "message": api_error.message,
            "details": api_error.details,
        },
        "timestamp": utc_now_iso(),
    }
    return Reply(api_error.status, body)
