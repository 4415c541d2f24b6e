"""The consumer's handler and the API commands over an in-memory unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox.contracts import ContractRegistry, example_body
from sandbox.messaging import IncomingMessage, OutgoingMessage, PermanentError
from sandbox.messaging.envelope import encode_body
from sandbox.services.appointment import handlers, rules
from sandbox.services.appointment.handlers import UnknownAppointmentError
from sandbox.services.appointment.rules import Appointment
from tests.appointment.support import NEW_APPOINTMENT

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@dataclass
class FakeUnits:
    """Commits a unit's writes only when its block ends without an exception."""

    appointments: dict[str, Appointment] = field(default_factory=dict)
    processed: set[tuple[str, str]] = field(default_factory=set)
    published: list[OutgoingMessage] = field(default_factory=list)

    @contextmanager
    def __call__(self) -> Iterator[FakeUnits.Unit]:
        unit = FakeUnits.Unit(self)
        yield unit
        self.appointments.update(unit.appointments)
        self.processed |= unit.processed
        self.published.extend(unit.published)

    @dataclass
    class Unit:
        store: FakeUnits
        appointments: dict[str, Appointment] = field(default_factory=dict)
        processed: set[tuple[str, str]] = field(default_factory=set)
        published: list[OutgoingMessage] = field(default_factory=list)

        def first_time(self, consumer: str, message_id: str) -> bool:
            key = (consumer, message_id)
            if key in self.store.processed or key in self.processed:
                return False
            self.processed.add(key)
            return True

        def get(self, appointment_id: str) -> Appointment | None:
            return self.appointments.get(appointment_id) or self.store.appointments.get(
                appointment_id
            )

        def first_time_and_get(
            self, consumer: str, message_id: str, appointment_id: str
        ) -> tuple[bool, Appointment | None]:
            if not self.first_time(consumer, message_id):
                return False, None
            return True, self.get(appointment_id)

        def insert(self, appt: Appointment) -> None:
            self.appointments[appt.id] = appt

        def update(self, appt: Appointment) -> None:
            self.appointments[appt.id] = appt

        def publish(self, messages: list[OutgoingMessage], appointment_id: str) -> None:
            self.published.extend(messages)


def message(routing_key: str, message_id: str = "evt-1", **body: Any) -> IncomingMessage:
    data = example_body(routing_key, **body)
    return IncomingMessage(
        routing_key=routing_key,
        raw_body=encode_body(data),
        properties={"message_id": message_id, "correlation_id": "flow-1"},
        queue="payment_events",
    )


@pytest.fixture
def units() -> FakeUnits:
    return FakeUnits()


@pytest.fixture
def booked(units: FakeUnits) -> Appointment:
    new = replace(NEW_APPOINTMENT, customer_name="Jane <b>Doe</b>")
    appt = handlers.create_appointment(
        units, new, tenant_id="tenant123", correlation_id="flow-1", now=lambda: NOW
    )
    units.published.clear()
    return appt


def test_new_appointment_awaits_payment_and_publishes_a_valid_appointment_created(
    units: FakeUnits,
) -> None:
    appt = handlers.create_appointment(
        units, NEW_APPOINTMENT, tenant_id="t1", correlation_id="flow-9"
    )
    assert (appt.status, appt.payment_status) == ("pending_confirmation", "pending")
    [created] = units.published
    assert created.routing_key == "appointment.created"
    assert created.envelope.correlation_id == "flow-9"
    registry = ContractRegistry.load()
    assert (
        registry.validate_message(created.routing_key, created.envelope.properties(), created.body)
        == []
    )


def test_the_same_event_twice_changes_and_publishes_once(
    units: FakeUnits, booked: Appointment
) -> None:
    event = message("payment.completed", appointmentId=booked.id)
    first = handlers.handle_payment_event(event, units, now=lambda: NOW)
    second = handlers.handle_payment_event(event, units, now=lambda: NOW)
    assert first is not None and first.outcome == rules.APPLIED
    assert second is None
    assert [m.routing_key for m in units.published] == ["appointment.confirmed"]


def test_confirmed_event_is_valid_and_carries_the_payment_and_the_flow(
    units: FakeUnits, booked: Appointment
) -> None:
    handlers.handle_payment_event(
        message("payment.completed", appointmentId=booked.id), units, now=lambda: NOW
    )
    [confirmed] = units.published
    body = confirmed.body
    registry = ContractRegistry.load()
    assert (
        registry.validate_message(confirmed.routing_key, confirmed.envelope.properties(), body)
        == []
    )
    assert confirmed.envelope.correlation_id == "flow-1"
    assert b'"paymentId":"pay_123456"' in body
    assert b'"amount":75.1' in body


def test_unknown_appointment_raises_a_retryable_error_and_records_nothing(
    units: FakeUnits,
) -> None:
    with pytest.raises(UnknownAppointmentError, match="appt_nowhere"):
        handlers.handle_payment_event(
            message("payment.completed", appointmentId="appt_nowhere"), units
        )
    assert units.processed == set()


def test_event_for_another_tenants_appointment_is_rejected_permanently(
    units: FakeUnits, booked: Appointment
) -> None:
    event = message("payment.completed", appointmentId=booked.id, tenantId="intruder")
    with pytest.raises(PermanentError, match="another tenant"):
        handlers.handle_payment_event(event, units)
    assert units.appointments[booked.id].status == rules.PENDING_CONFIRMATION


def test_event_without_a_message_id_is_rejected_permanently(
    units: FakeUnits, booked: Appointment
) -> None:
    event = message("payment.completed", appointmentId=booked.id)
    event = IncomingMessage(event.routing_key, event.raw_body, {}, queue="q")
    with pytest.raises(PermanentError, match="message_id"):
        handlers.handle_payment_event(event, units)


def test_cancel_on_request_publishes_appointment_cancelled_with_the_reason(
    units: FakeUnits, booked: Appointment
) -> None:
    cancelled = handlers.cancel_appointment(
        units,
        tenant_id="tenant123",
        appointment_id=booked.id,
        reason="Running late",
        correlation_id="flow-2",
    )
    assert cancelled.status == rules.CANCELLED
    [event] = units.published
    assert event.routing_key == "appointment.cancelled"
    assert b'"reason":"Running late"' in event.body


def test_cancelling_twice_is_refused(units: FakeUnits, booked: Appointment) -> None:
    args: dict[str, Any] = {
        "tenant_id": "tenant123",
        "appointment_id": booked.id,
        "reason": None,
        "correlation_id": "c",
    }
    handlers.cancel_appointment(units, **args)
    with pytest.raises(handlers.AlreadyCancelled):
        handlers.cancel_appointment(units, **args)
    assert len(units.published) == 1
