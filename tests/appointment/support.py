"""Helpers for tests that run the appointment service: its processes, payment events.

Used by the appointment tests and by the notifier's end-to-end test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage
from sandbox.services.appointment.rules import NewAppointment
from sandbox.settings import BrokerSettings
from sandbox.topology import PAYMENT_SERVICE
from tests.service_support import RunningService, running_service

# A valid booking request (POST /appointments); tests override the fields they are about.
BOOKING: dict[str, Any] = {
    "customerName": "Jane Doe",
    "customerEmail": "jane.doe@example.com",
    "service": "Haircut",
    "startTime": "2030-06-01T10:00:00+02:00",
    "price": 75.0,
    "currency": "USD",
}

# A booking as the handlers receive it; tests replace the fields they are about.
NEW_APPOINTMENT = NewAppointment(
    customer_id="cust_1",
    customer_name="Jane Doe",
    customer_email="jane@example.com",
    service="Haircut",
    start_time="2030-06-01T10:00:00+02:00",
    price=Decimal("75.10"),
    currency="USD",
)


def payment_event(
    routing_key: str,
    *,
    appointment_id: str,
    tenant_id: str,
    correlation_id: str | None = None,
    **overrides: Any,
) -> OutgoingMessage:
    """A valid payment event, as the payment service would publish it."""
    overrides.setdefault("paymentId", f"pay_{uuid.uuid4().hex[:12]}")
    body = example_body(routing_key, appointmentId=appointment_id, tenantId=tenant_id, **overrides)
    return OutgoingMessage.event(
        routing_key, body, producer=PAYMENT_SERVICE, correlation_id=correlation_id
    )


class AppointmentService(RunningService):
    """The appointment service's three processes and where they answer."""

    def outbox_pending(self) -> int:
        return int(requests.get(f"{self.url}/health", timeout=5).json()["outbox"]["pending"])


@contextmanager
def appointment_service(
    state_dir: Path, amqp_url: str, broker: BrokerSettings
) -> Iterator[AppointmentService]:
    """Start web, consumer and relay as real processes; stop them afterwards."""
    with running_service(AppointmentService, "appointment", state_dir, amqp_url, broker) as s:
        yield s
