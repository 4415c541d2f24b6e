"""Response bodies of the payment API (seed 003's shapes), built from stored payments.

The same functions build a first response and the response for a payment read back
later (after a race with a webhook, or on an idempotent resume), so both look alike.
A failed payment answers with seed 003's failure fields *and* its error format, so a
client written against either finds what it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.services.common.web import utc_now_iso
from sandbox.services.payment import model
from sandbox.services.payment.model import Payment, Refund
from sandbox.services.payment.money import to_major


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


def success(payment: Payment) -> dict[str, Any]:
    return {
        "status": "success",
        "transaction_id": payment.id,
        "booking_id": payment.booking_id,
        "amount": to_major(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "payment_method": payment.payment_method,
        "payment_status": payment.status,
        "card": card(payment),
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
        "status": "failed",
        "transaction_id": payment.id,
        "booking_id": payment.booking_id,
        "amount": to_major(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "payment_method": payment.payment_method,
        "payment_status": payment.status,
        "card": card(payment),
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


def for_payment(payment: Payment) -> Reply:
    """What /payment/process answers for a payment as it is now."""
    if payment.status in (model.COMPLETED, model.PARTIALLY_REFUNDED, model.REFUNDED):
        return Reply(200, success(payment))
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
