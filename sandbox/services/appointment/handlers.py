"""What the appointment service does, as plain functions over a unit of work.

``handle_payment_event`` is the consumer's handler: one payment event in, the changed
appointment and its ``appointment.*`` events out, with the event's id recorded in the
same transaction so a redelivery changes and publishes nothing.  ``create_appointment``
and ``cancel_appointment`` are the API's commands.  The unit of work is a small
interface: ``storage.UnitOfWork`` in the processes, an in-memory fake in unit tests.

Failure rules (docs/appointment-service.md):
- unknown appointment: ``UnknownAppointmentError``, retried through the ladder (the
  appointment may be committing right now) and then dead-lettered with that reason;
- appointment of another tenant, or a body the rules cannot read: ``PermanentError``,
  dead-lettered at once;
- schema violations never get here: the consumer's contract validator dead-letters them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Protocol

from sandbox.messaging import IncomingMessage, OutgoingMessage, PermanentError
from sandbox.services.appointment import events, rules
from sandbox.services.appointment.rules import Appointment, Decision, NewAppointment, PaymentEvent

log = logging.getLogger(__name__)

CONSUMER = "appointment-service/payment_events"
DEFAULT_CANCEL_REASON = "Cancelled at the customer's request"


class Unit(Protocol):
    def first_time_and_get(
        self, consumer: str, message_id: str, appointment_id: str
    ) -> tuple[bool, Appointment | None]: ...
    def get(self, appointment_id: str) -> Appointment | None: ...
    def insert(self, appt: Appointment) -> None: ...
    def update(self, appt: Appointment) -> None: ...
    def publish(self, messages: list[OutgoingMessage], appointment_id: str) -> None: ...


UnitOfWork = Callable[[], AbstractContextManager[Unit]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class UnknownAppointmentError(Exception):
    """A payment event names an appointment this service does not have (yet)."""


class AppointmentNotFound(LookupError):
    """No appointment with that id for that tenant."""


class AlreadyCancelled(Exception):
    """The appointment is cancelled already."""


def handle_payment_event(
    message: IncomingMessage, unit_of_work: UnitOfWork, now: Clock = utc_now
) -> Decision | None:
    """Apply one payment event; None when it was processed before (a redelivery)."""
    if not message.message_id:
        raise PermanentError("payment event without message_id cannot be de-duplicated")
    try:
        event = PaymentEvent.from_body(message.routing_key, message.body)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise PermanentError(f"unreadable {message.routing_key} body: {exc!r}") from exc
    correlation_id = message.correlation_id
    if not correlation_id:  # the envelope contract requires one; never minted here
        raise PermanentError("payment event without correlation_id cannot be followed")
    with unit_of_work() as uow:
        first, appt = uow.first_time_and_get(CONSUMER, message.message_id, event.appointment_id)
        if not first:
            log.info("duplicate %s %s ignored", message.routing_key, message.message_id)
            return None
        if appt is None:
            raise UnknownAppointmentError(
                f"no appointment {event.appointment_id!r} for {message.routing_key} "
                f"{message.message_id} (retried in case it is being created; then DLQ)"
            )
        if appt.tenant_id != event.tenant_id:
            raise PermanentError(
                f"appointment {appt.id!r} belongs to another tenant than {event.tenant_id!r}"
            )
        decision = rules.apply_payment_event(appt, event, now())
        if decision.appointment != appt:
            uow.update(decision.appointment)
        outgoing = [
            events.event_for(
                p.routing_key, decision.appointment, correlation_id=correlation_id, reason=p.reason
            )
            for p in decision.publish
        ]
        uow.publish(outgoing, appt.id)
    log.info(
        "%s %s on %s: %s (%s)",
        message.routing_key,
        message.message_id,
        appt.id,
        decision.outcome,
        decision.note,
    )
    return decision


def new_appointment_id() -> str:
    return f"appt_{uuid.uuid4().hex[:20]}"


def create_appointment(
    unit_of_work: UnitOfWork,
    new: NewAppointment,
    *,
    tenant_id: str,
    correlation_id: str,
    now: Clock = utc_now,
) -> Appointment:
    """Store a new appointment awaiting payment and its ``appointment.created`` event."""
    moment = now()
    appt = Appointment(
        id=new_appointment_id(),
        tenant_id=tenant_id,
        **asdict(new),
        status=rules.PENDING_CONFIRMATION,
        payment_status=rules.PAYMENT_PENDING,
        created_at=moment,
        updated_at=moment,
        correlation_id=correlation_id,
    )
    with unit_of_work() as uow:
        uow.insert(appt)
        uow.publish(
            [events.event_for(events.CREATED, appt, correlation_id=correlation_id)], appt.id
        )
    return appt


def cancel_appointment(
    unit_of_work: UnitOfWork,
    *,
    tenant_id: str,
    appointment_id: str,
    reason: str | None,
    correlation_id: str,
    now: Clock = utc_now,
) -> Appointment:
    """Cancel on request and publish ``appointment.cancelled``; no refund is implied."""
    reason = reason or DEFAULT_CANCEL_REASON
    with unit_of_work() as uow:
        appt = uow.get(appointment_id)
        if appt is None or appt.tenant_id != tenant_id:
            raise AppointmentNotFound(appointment_id)
        if appt.status == rules.CANCELLED:
            raise AlreadyCancelled(appointment_id)
        cancelled = rules.cancel_on_request(appt, reason, now())
        uow.update(cancelled)
        uow.publish(
            [
                events.event_for(
                    events.CANCELLED, cancelled, correlation_id=correlation_id, reason=reason
                )
            ],
            appt.id,
        )
    return cancelled
