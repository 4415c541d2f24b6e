"""The ``appointment.*`` events, built from an appointment as their contracts require.

Bodies carry the appointment's own data (customer, service, start time) so the notifier
can write its emails from the event alone (event-carried state).  Every event is
published by the relay from the outbox, with the flow's correlation id.
"""

from __future__ import annotations

from typing import Any

from sandbox.messaging import OutgoingMessage
from sandbox.services.appointment.rules import Appointment
from sandbox.services.common.times import iso, utc_now
from sandbox.topology import APPOINTMENT_SERVICE

CREATED = "appointment.created"
CONFIRMED = "appointment.confirmed"
CANCELLED = "appointment.cancelled"

_TYPES = {
    CREATED: "APPOINTMENT_CREATED",
    CONFIRMED: "APPOINTMENT_CONFIRMED",
    CANCELLED: "APPOINTMENT_CANCELLED",
}


def body_for(routing_key: str, appt: Appointment, *, reason: str | None = None) -> dict[str, Any]:
    """The event body for ``routing_key`` describing ``appt`` as it is now."""
    body: dict[str, Any] = {
        "type": _TYPES[routing_key],
        "tenantId": appt.tenant_id,
        "appointmentId": appt.id,
        "customerId": appt.customer_id,
        "customerEmail": appt.customer_email,
        "customerName": appt.customer_name,
        "service": appt.service,
        "startTime": appt.start_time,
        "amount": float(appt.price),
        "currency": appt.currency,
        "status": appt.status,
        "paymentStatus": appt.payment_status,
        "timestamp": iso(utc_now()),
    }
    if appt.payment_id is not None:
        body["paymentId"] = appt.payment_id
    if routing_key == CANCELLED:
        body["reason"] = reason or appt.cancellation_reason or "Cancelled"
    return body


def event_for(
    routing_key: str, appt: Appointment, *, correlation_id: str, reason: str | None = None
) -> OutgoingMessage:
    return OutgoingMessage.event(
        routing_key,
        body_for(routing_key, appt, reason=reason),
        producer=APPOINTMENT_SERVICE,
        correlation_id=correlation_id,
    )
