"""Seed 000's appointment rules as pure functions: an appointment and a payment event in,
the changed appointment and the events to publish out.  No I/O, so every rule and every
out-of-order case is tested without a database or a broker.

Out-of-order events are settled by how far along its lifecycle each payment status is
(``PAYMENT_RANK``): an event never moves ``paymentStatus`` back to an earlier stage,
because the later state already implies the earlier one.  A refund proves that the
payment completed, so a refund that overtakes its completion is applied as if the
completion had come first.  The full rule table is in docs/appointment-service.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

# Appointment status
PENDING_CONFIRMATION = "pending_confirmation"
CONFIRMED = "confirmed"
CANCELLED = "cancelled"

# paymentStatus
PAYMENT_PENDING = "pending"
PAID = "paid"
FAILED = "failed"
REFUNDED = "refunded"
PAYMENT_CANCELLED = "cancelled"

PAYMENT_RANK = {PAYMENT_PENDING: 0, FAILED: 1, PAYMENT_CANCELLED: 1, PAID: 2, REFUNDED: 3}

CONFIRMED_KEY = "appointment.confirmed"
CANCELLED_KEY = "appointment.cancelled"

APPLIED = "applied"
IGNORED = "ignored"


@dataclass(frozen=True)
class NewAppointment:
    """What a booking request says: the new appointment's fields of the same names."""

    customer_id: str
    customer_name: str
    customer_email: str
    service: str
    start_time: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class Appointment(NewAppointment):
    """A booked appointment: what its request said, its id and tenant, and its state."""

    id: str
    tenant_id: str
    status: str
    payment_status: str
    created_at: datetime
    updated_at: datetime
    payment_id: str | None = None
    payment_error_code: str | None = None
    payment_error_message: str | None = None
    refunded_amount: Decimal | None = None
    cancellation_reason: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class PaymentEvent:
    """The fields of a ``payment.*`` body that the rules read (a tolerant reader)."""

    routing_key: str
    payment_id: str
    appointment_id: str
    tenant_id: str
    error_code: str | None = None
    error_message: str | None = None
    refund_type: str | None = None
    refunded_amount: Decimal | None = None
    reason: str | None = None

    @classmethod
    def from_body(cls, routing_key: str, body: dict[str, Any]) -> PaymentEvent:
        """Read a body that passed its contract; KeyError/TypeError if a field is missing."""
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        refunded = body.get("refundedAmount")
        return cls(
            routing_key=routing_key,
            payment_id=str(body["paymentId"]),
            appointment_id=str(body["appointmentId"]),
            tenant_id=str(body["tenantId"]),
            error_code=_opt(error.get("code")),
            error_message=_opt(error.get("message")),
            refund_type=_opt(body.get("refundType")),
            refunded_amount=Decimal(str(refunded)) if refunded is not None else None,
            reason=_opt(body.get("reason")),
        )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Publish:
    """An ``appointment.*`` event to publish, with the cancellation reason if any."""

    routing_key: str
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    appointment: Appointment
    outcome: str  # APPLIED or IGNORED
    note: str
    publish: tuple[Publish, ...] = ()


def apply_payment_event(appt: Appointment, event: PaymentEvent, now: datetime) -> Decision:
    """What ``event`` does to ``appt`` (seed 000's rules plus the out-of-order rules)."""
    handler = _RULES.get(event.routing_key)
    if handler is None:
        return Decision(appt, IGNORED, f"{event.routing_key} does not concern appointments")
    decision = handler(appt, event)
    if decision.appointment != appt:
        decision = replace(decision, appointment=replace(decision.appointment, updated_at=now))
    return decision


def _with_payment(
    appt: Appointment, event: PaymentEvent, status: str, **changes: Any
) -> Appointment:
    """``appt`` with the event's payment in ``status``, and the payment's error: the
    event's when the payment failed, none otherwise."""
    failed = status == FAILED
    return replace(
        appt,
        payment_status=status,
        payment_id=event.payment_id,
        payment_error_code=event.error_code if failed else None,
        payment_error_message=event.error_message if failed else None,
        **changes,
    )


def _stale(appt: Appointment, event: PaymentEvent) -> Decision:
    return Decision(
        appt,
        IGNORED,
        f"stale {event.routing_key}: paymentStatus is already {appt.payment_status}",
    )


def _created(appt: Appointment, event: PaymentEvent) -> Decision:
    if appt.payment_id is not None or appt.payment_status != PAYMENT_PENDING:
        return Decision(appt, IGNORED, "payment already known; PAYMENT_CREATED changes nothing")
    return Decision(replace(appt, payment_id=event.payment_id), APPLIED, "payment id recorded")


def _completed(appt: Appointment, event: PaymentEvent) -> Decision:
    if PAYMENT_RANK[appt.payment_status] >= PAYMENT_RANK[PAID]:
        return _stale(appt, event)
    paid = _with_payment(appt, event, PAID)
    if appt.status == PENDING_CONFIRMATION:
        confirmed = replace(paid, status=CONFIRMED)
        return Decision(confirmed, APPLIED, "paid and confirmed", (Publish(CONFIRMED_KEY),))
    return Decision(paid, APPLIED, f"paid; status stays {appt.status}")


def _failed(appt: Appointment, event: PaymentEvent) -> Decision:
    if PAYMENT_RANK[appt.payment_status] > PAYMENT_RANK[FAILED]:
        return _stale(appt, event)
    failed = _with_payment(appt, event, FAILED)
    return Decision(failed, APPLIED, "payment failed; error stored")


def _payment_cancelled(appt: Appointment, event: PaymentEvent) -> Decision:
    if PAYMENT_RANK[appt.payment_status] > PAYMENT_RANK[PAYMENT_CANCELLED]:
        return _stale(appt, event)
    cancelled = replace(appt, payment_status=PAYMENT_CANCELLED, payment_id=event.payment_id)
    return Decision(cancelled, APPLIED, "payment cancelled")


def _refunded(appt: Appointment, event: PaymentEvent) -> Decision:
    already = appt.refunded_amount or Decimal(0)
    refunded = _with_payment(
        appt, event, REFUNDED, refunded_amount=already + (event.refunded_amount or Decimal(0))
    )
    full = event.refund_type == "full"
    overtook_completion = PAYMENT_RANK[appt.payment_status] < PAYMENT_RANK[PAID]
    if full and appt.status != CANCELLED:
        reason = f"Payment refunded in full: {event.reason}" if event.reason else "Payment refunded"
        cancelled = replace(refunded, status=CANCELLED, cancellation_reason=reason)
        publish = (Publish(CANCELLED_KEY, reason),)
        return Decision(cancelled, APPLIED, "full refund; cancelled", publish)
    if not full and overtook_completion and appt.status == PENDING_CONFIRMATION:
        # The refund proves the payment completed; its completion event is late.
        confirmed = replace(refunded, status=CONFIRMED)
        note = "partial refund before completion; confirmed as paid"
        return Decision(confirmed, APPLIED, note, (Publish(CONFIRMED_KEY),))
    kind = "full" if full else "partial"
    return Decision(refunded, APPLIED, f"{kind} refund; status stays {refunded.status}")


_RULES = {
    "payment.created": _created,
    "payment.completed": _completed,
    "payment.failed": _failed,
    "payment.cancelled": _payment_cancelled,
    "payment.refunded": _refunded,
}


def cancel_on_request(appt: Appointment, reason: str, now: datetime) -> Appointment:
    """The appointment cancelled through the API (the caller checked it is not cancelled)."""
    return replace(appt, status=CANCELLED, cancellation_reason=reason, updated_at=now)
