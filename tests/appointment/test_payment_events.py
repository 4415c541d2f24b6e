"""Seed 000's rules, applied by the real consumer process to events on a real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sandbox.contracts import ContractRegistry
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging import envelope as env
from sandbox.messaging.envelope import IncomingMessage
from sandbox.pytest_plugin import Vhost
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common.db import make_engine
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology
from sandbox.waiting import wait_for
from tests.appointment.support import AppointmentService, payment_event
from tests.service_support import EventTap, await_dead_letter, publish_altered

pytestmark = pytest.mark.integration

Appointment = dict[str, Any]


@dataclass
class Booked:
    """One appointment of this test's tenant: the payment events sent for it, its state."""

    id: str
    tenant: str
    service: AppointmentService
    http: requests.Session
    publisher: Publisher

    def event(self, routing_key: str, **fields: Any) -> OutgoingMessage:
        """A payment event about this appointment."""
        return payment_event(routing_key, appointment_id=self.id, tenant_id=self.tenant, **fields)

    def pay(self, routing_key: str, **fields: Any) -> OutgoingMessage:
        """Publish a payment event about this appointment; return it."""
        event = self.event(routing_key, **fields)
        self.publisher.publish(event)
        return event

    def now(self) -> Appointment:
        response = self.http.get(
            f"{self.service.url}/appointments/{self.id}", headers={"X-Tenant-Id": self.tenant}
        )
        assert response.status_code == 200, response.text
        found: Appointment = response.json()
        return found

    def becomes(self, **expected: Any) -> Appointment:
        """Wait until the appointment has every ``expected`` field value; return it."""

        def probe() -> Appointment | None:
            found = self.now()
            return found if all(found[k] == v for k, v in expected.items()) else None

        return wait_for(
            probe, timeout=20, what=f"appointment {self.id} with {expected}", seen=self.now
        )


@pytest.fixture
def booked(
    book: Callable[..., Appointment],
    tenant: str,
    service: AppointmentService,
    http: requests.Session,
    publisher: Publisher,
) -> Booked:
    """An appointment booked over HTTP, pending its payment."""
    return Booked(book()["appointmentId"], tenant, service, http, publisher)


def processed(service: AppointmentService, before: int, count: int) -> None:
    """Wait until the consumer has settled ``count`` more deliveries and the relay is idle."""
    wait_for(
        lambda: (
            service.consumer_stats()["acked"] >= before + count and service.outbox_pending() == 0
        ),
        timeout=20,
        what=f"{count} more acked deliveries and an empty outbox",
        seen=service.consumer_stats,
    )


def valid(message: IncomingMessage) -> bool:
    registry = ContractRegistry.load()
    return registry.validate_delivered(message) == []


def test_completed_payment_confirms_a_pending_appointment_and_publishes_appointment_confirmed(
    booked: Booked, appointment_events: EventTap
) -> None:
    flow = f"flow-{uuid.uuid4().hex}"
    event = booked.pay("payment.completed", correlation_id=flow)

    after = booked.becomes(status="confirmed")
    assert after["paymentStatus"] == "paid"
    assert after["paymentId"] == json.loads(event.body)["paymentId"]
    confirmed = wait_for(
        lambda: appointment_events.matching("appointment.confirmed", appointmentId=booked.id),
        timeout=20,
        what="appointment.confirmed on the bus",
    )
    assert len(confirmed) == 1
    assert confirmed[0].properties["correlation_id"] == flow
    assert confirmed[0].properties["app_id"] == "appointment-service"
    assert valid(confirmed[0])


def test_failed_payment_stores_the_error_in_payment_error(booked: Booked) -> None:
    error = {"code": "INSUFFICIENT_FUNDS", "message": "Insufficient funds in account"}
    booked.pay("payment.failed", error=error)

    after = booked.becomes(paymentStatus="failed")
    assert after["paymentError"] == error
    assert after["status"] == "pending_confirmation"


def test_full_refund_cancels_the_appointment_and_publishes_appointment_cancelled(
    booked: Booked, appointment_events: EventTap
) -> None:
    booked.pay("payment.completed")
    booked.becomes(status="confirmed")
    booked.pay("payment.refunded", reason="Customer cancellation")

    after = booked.becomes(status="cancelled")
    assert after["paymentStatus"] == "refunded"
    assert after["refundedAmount"] == 75.0
    cancelled = wait_for(
        lambda: appointment_events.matching("appointment.cancelled", appointmentId=booked.id),
        timeout=20,
        what="appointment.cancelled on the bus",
    )
    assert len(cancelled) == 1
    assert "Customer cancellation" in cancelled[0].json()["reason"]
    assert valid(cancelled[0])


def test_partial_refund_records_the_refund_without_cancelling(
    booked: Booked, service: AppointmentService, appointment_events: EventTap
) -> None:
    booked.pay("payment.completed")
    booked.becomes(status="confirmed")
    before = service.consumer_stats()["acked"]
    booked.pay(
        "payment.refunded",
        status="partially_refunded",
        refundType="partial",
        refundedAmount=25.5,
    )

    after = booked.becomes(paymentStatus="refunded")
    processed(service, before, 1)
    assert after["status"] == "confirmed"
    assert after["refundedAmount"] == 25.5
    assert appointment_events.matching("appointment.cancelled", appointmentId=booked.id) == []


def test_cancelled_payment_is_recorded_as_payment_status_cancelled(booked: Booked) -> None:
    booked.pay("payment.cancelled")

    after = booked.becomes(paymentStatus="cancelled")
    assert after["status"] == "pending_confirmation"


def test_same_payment_event_delivered_three_times_changes_the_appointment_once_and_publishes_once(
    booked: Booked, service: AppointmentService, appointment_events: EventTap
) -> None:
    event = booked.event("payment.completed")
    before = service.consumer_stats()["acked"]

    for _ in range(3):
        booked.publisher.publish(event)  # same message_id each time: a redelivery
    processed(service, before, 3)

    after = booked.now()
    assert (after["status"], after["paymentStatus"]) == ("confirmed", "paid")
    confirmed = appointment_events.matching("appointment.confirmed", appointmentId=booked.id)
    assert len(confirmed) == 1
    store = AppointmentStore(make_engine(service.database_url))
    assert store.outbox_events(booked.id) == ["appointment.created", "appointment.confirmed"]
    store.engine.dispose()


def test_event_for_an_unknown_appointment_is_retried_then_dead_lettered_with_its_reason(
    publisher: Publisher,
    shared_vhost: Vhost,
    fast_topology: Topology,
    fast_broker: BrokerSettings,
    service: AppointmentService,
    tenant: str,
) -> None:
    missing = f"appt_missing_{uuid.uuid4().hex[:8]}"
    event = payment_event("payment.completed", appointment_id=missing, tenant_id=tenant)
    before = service.consumer_stats()["retried"]

    publisher.publish(event)

    dlq = fast_topology.queue(fast_broker.payment_queue).dlq
    headers = await_dead_letter(shared_vhost.url, dlq, event.message_id, timeout=30).headers
    assert headers[env.EXCEPTION_CLASS_HEADER] == "UnknownAppointmentError"
    assert missing in headers[env.EXCEPTION_MESSAGE_HEADER]
    assert headers[env.ATTEMPT_HEADER] == fast_topology.max_attempts
    assert service.consumer_stats()["retried"] - before == len(fast_broker.retry_delays_ms)


def test_event_that_breaks_its_schema_is_dead_lettered_at_once_without_retries(
    booked: Booked,
    shared_vhost: Vhost,
    fast_topology: Topology,
    fast_broker: BrokerSettings,
    service: AppointmentService,
) -> None:
    good = booked.event("payment.completed")
    before = service.consumer_stats()["retried"]

    # amount must be a number
    publish_altered(shared_vhost.url, fast_topology.exchange.name, good, amount="seventy-five")

    dlq = fast_topology.queue(fast_broker.payment_queue).dlq
    headers = await_dead_letter(shared_vhost.url, dlq, good.message_id, timeout=20).headers
    assert headers[env.DEAD_LETTER_REASON_HEADER] == "schema-violation"
    assert "amount" in headers[env.EXCEPTION_MESSAGE_HEADER]
    assert headers[env.ATTEMPT_HEADER] == 1
    assert service.consumer_stats()["retried"] == before
    assert booked.now()["paymentStatus"] == "pending"


def test_refund_before_completion_cancels_and_the_late_completion_is_ignored(
    booked: Booked, service: AppointmentService, appointment_events: EventTap
) -> None:
    refund = booked.event("payment.refunded")
    completion = booked.event("payment.completed", paymentId=json.loads(refund.body)["paymentId"])
    before = service.consumer_stats()["acked"]

    booked.publisher.publish(refund)
    booked.publisher.publish(completion)
    processed(service, before, 2)

    after = booked.now()
    assert (after["status"], after["paymentStatus"]) == ("cancelled", "refunded")
    assert len(appointment_events.matching("appointment.cancelled", appointmentId=booked.id)) == 1
    assert appointment_events.matching("appointment.confirmed", appointmentId=booked.id) == []
