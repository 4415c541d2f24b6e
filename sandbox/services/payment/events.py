"""Event bodies of the payment service (seed 000's fields, ``contracts/events/payment.*``).

Every event of one payment carries the payment's correlation id (the X-Correlation-Id of
the request that created it), so a flow can be followed from the first HTTP call to the
last email.  ``booking_id`` is the ``appointmentId`` and ``user_id`` the ``customerId``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.messaging import OutgoingMessage
from sandbox.services.payment import model
from sandbox.services.payment.money import to_major
from sandbox.services.payment.settings import SERVICE_NAME

TYPES = {
    "payment.created": "PAYMENT_CREATED",
    "payment.completed": "PAYMENT_COMPLETED",
    "payment.failed": "PAYMENT_FAILED",
    "payment.refunded": "PAYMENT_REFUNDED",
    "payment.cancelled": "PAYMENT_CANCELLED",
}

# The body's status per routing key (refunds decide between refunded/partially_refunded).
_BODY_STATUS = {
    "payment.created": "pending",
    "payment.completed": "succeeded",
    "payment.failed": "failed",
    "payment.cancelled": "cancelled",
}


def _common(routing_key: str, payment: model.Payment, at: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPES[routing_key],
        "tenantId": payment.tenant_id,
        "paymentId": payment.id,
        "appointmentId": payment.booking_id,
        "customerId": payment.user_id,
        "amount": to_major(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "status": _BODY_STATUS.get(routing_key, payment.status),
        "timestamp": model.iso(at),
    }
    if payment.customer.email:
        body["customerEmail"] = payment.customer.email
    if payment.customer.name:
        body["customerName"] = payment.customer.name
    return body


def _message(routing_key: str, body: dict[str, Any], payment: model.Payment) -> OutgoingMessage:
    return OutgoingMessage.event(
        routing_key, body, producer=SERVICE_NAME, correlation_id=payment.correlation_id
    )


def state_event(routing_key: str, payment: model.Payment, at: datetime) -> OutgoingMessage:
    """payment.created / completed / failed / cancelled for ``payment`` as it now is."""
    body = _common(routing_key, payment, at)
    if routing_key == "payment.failed":
        body["error"] = {
            "code": payment.error_code or "PAYMENT_FAILED",
            "message": payment.error_message or "the payment failed",
        }
    return _message(routing_key, body, payment)


def cancelled_event(payment: model.Payment, reason: str, at: datetime) -> OutgoingMessage:
    body = _common("payment.cancelled", payment, at)
    body["reason"] = reason
    return _message("payment.cancelled", body, payment)


def message(
    routing_key: str,
    payment: model.Payment,
    at: datetime,
    *,
    reason: str | None = None,
    refund: model.Refund | None = None,
) -> OutgoingMessage:
    """The event ``routing_key`` (a move's ``emits``) for ``payment`` as it now is."""
    if routing_key == "payment.cancelled":
        return cancelled_event(payment, reason or "cancelled", at)
    if routing_key == "payment.refunded":
        assert refund is not None, "payment.refunded tells which refund"
        return refunded_event(payment, refund, at)
    return state_event(routing_key, payment, at)


def refunded_event(payment: model.Payment, refund: model.Refund, at: datetime) -> OutgoingMessage:
    """payment.refunded; ``payment`` is the state after the refund."""
    body = _common("payment.refunded", payment, at)
    full = payment.status == model.REFUNDED
    body.update(
        refundId=refund.id,
        reason=refund.reason,
        refundedAmount=to_major(refund.amount_minor, payment.currency),
        refundType="full" if full else "partial",
    )
    return _message("payment.refunded", body, payment)
