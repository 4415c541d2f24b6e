"""Seed 000's rules, applied by the real consumer process to events on a real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from sandbox.contracts import ContractRegistry
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging import envelope as env
from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.tools import drain, publish_raw_message
from sandbox.pytest_plugin import Vhost
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common.db import make_engine
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology
from sandbox.waiting import wait_for
from tests.appointment.support import AppointmentService, payment_event
from tests.service_support import EventTap

pytestmark = pytest.mark.integration

Appointment = dict[str, Any]


@pytest.fixture
def fetch(
    service: AppointmentService, http: requests.Session, tenant: str
) -> Callable[[str], Appointment]:
    def get(appointment_id: str) -> Appointment:
        response = http.get(
            f"{service.url}/appointments/{appointment_id}", headers={"X-Tenant-Id": tenant}
        )
        assert response.status_code == 200, response.text
        found: Appointment = response.json()
        return found

    return get


def await_state(
    fetch: Callable[[str], Appointment], appointment_id: str, **expected: Any
) -> Appointment:
    """Wait until the appointment has every ``expected`` field value; return it."""

    def probe() -> Appointment | None:
        found = fetch(appointment_id)
        return found if all(found[k] == v for k, v in expected.items()) else None

    reached = wait_for(
        probe,
        timeout=20,
        what=f"appointment {appointment_id} with {expected}",
        seen=lambda: fetch(appointment_id),
    )
    assert reached is not None
    return reached


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
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    appointment_events: EventTap,
    tenant: str,
) -> None:
    appt = book()
    flow = f"flow-{uuid.uuid4().hex}"
    event = payment_event(
        "payment.completed",
        appointment_id=appt["appointmentId"],
        tenant_id=tenant,
        correlation_id=flow,
    )
    publisher.publish(event)

    after = await_state(fetch, appt["appointmentId"], status="confirmed")
    assert after["paymentStatus"] == "paid"
    assert after["paymentId"] == json.loads(event.body)["paymentId"]
    confirmed = wait_for(
        lambda: appointment_events.matching(
            "appointment.confirmed", appointmentId=appt["appointmentId"]
        ),
        timeout=20,
        what="appointment.confirmed on the bus",
    )
    assert len(confirmed) == 1
    assert confirmed[0].properties["correlation_id"] == flow
    assert confirmed[0].properties["app_id"] == "appointment-service"
    assert valid(confirmed[0])


def test_failed_payment_stores_the_error_in_payment_error(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    tenant: str,
) -> None:
    appt = book()
    error = {"code": "INSUFFICIENT_FUNDS", "message": "Insufficient funds in account"}
    publisher.publish(
        payment_event(
            "payment.failed", appointment_id=appt["appointmentId"], tenant_id=tenant, error=error
        )
    )

    after = await_state(fetch, appt["appointmentId"], paymentStatus="failed")
    assert after["paymentError"] == error
    assert after["status"] == "pending_confirmation"


def test_full_refund_cancels_the_appointment_and_publishes_appointment_cancelled(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    appointment_events: EventTap,
    tenant: str,
) -> None:
    appt = book()
    appointment_id = appt["appointmentId"]
    publisher.publish(
        payment_event("payment.completed", appointment_id=appointment_id, tenant_id=tenant)
    )
    await_state(fetch, appointment_id, status="confirmed")
    publisher.publish(
        payment_event(
            "payment.refunded",
            appointment_id=appointment_id,
            tenant_id=tenant,
            reason="Customer cancellation",
        )
    )

    after = await_state(fetch, appointment_id, status="cancelled")
    assert after["paymentStatus"] == "refunded"
    assert after["refundedAmount"] == 75.0
    cancelled = wait_for(
        lambda: appointment_events.matching("appointment.cancelled", appointmentId=appointment_id),
        timeout=20,
        what="appointment.cancelled on the bus",
    )
    assert len(cancelled) == 1
    assert "Customer cancellation" in cancelled[0].json()["reason"]
    assert valid(cancelled[0])


def test_partial_refund_records_the_refund_without_cancelling(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    service: AppointmentService,
    appointment_events: EventTap,
    tenant: str,
) -> None:
    appt = book()
    appointment_id = appt["appointmentId"]
    publisher.publish(
        payment_event("payment.completed", appointment_id=appointment_id, tenant_id=tenant)
    )
    await_state(fetch, appointment_id, status="confirmed")
    before = service.consumer_stats()["acked"]
    publisher.publish(
        payment_event(
            "payment.refunded",
            appointment_id=appointment_id,
            tenant_id=tenant,
            status="partially_refunded",
            refundType="partial",
            refundedAmount=25.5,
        )
    )

    after = await_state(fetch, appointment_id, paymentStatus="refunded")
    processed(service, before, 1)
    assert after["status"] == "confirmed"
    assert after["refundedAmount"] == 25.5
    assert appointment_events.matching("appointment.cancelled", appointmentId=appointment_id) == []


def test_cancelled_payment_is_recorded_as_payment_status_cancelled(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    tenant: str,
) -> None:
    appt = book()
    publisher.publish(
        payment_event("payment.cancelled", appointment_id=appt["appointmentId"], tenant_id=tenant)
    )

    after = await_state(fetch, appt["appointmentId"], paymentStatus="cancelled")
    assert after["status"] == "pending_confirmation"


def test_same_payment_event_delivered_three_times_changes_the_appointment_once_and_publishes_once(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    service: AppointmentService,
    appointment_events: EventTap,
    tenant: str,
) -> None:
    appt = book()
    appointment_id = appt["appointmentId"]
    event = payment_event("payment.completed", appointment_id=appointment_id, tenant_id=tenant)
    before = service.consumer_stats()["acked"]

    for _ in range(3):
        publisher.publish(event)  # same message_id each time: a redelivery
    processed(service, before, 3)

    after = fetch(appointment_id)
    assert (after["status"], after["paymentStatus"]) == ("confirmed", "paid")
    confirmed = appointment_events.matching("appointment.confirmed", appointmentId=appointment_id)
    assert len(confirmed) == 1
    store = AppointmentStore(make_engine(service.database_url))
    assert store.outbox_events(appointment_id) == ["appointment.created", "appointment.confirmed"]
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

    dead = wait_for(
        lambda: _dead_letter(shared_vhost.url, fast_topology, fast_broker.payment_queue, event),
        timeout=30,
        what=f"{event.message_id} in the payment_events DLQ",
    )
    assert dead is not None
    headers = dead.headers
    assert headers[env.EXCEPTION_CLASS_HEADER] == "UnknownAppointmentError"
    assert missing in headers[env.EXCEPTION_MESSAGE_HEADER]
    assert headers[env.ATTEMPT_HEADER] == fast_topology.max_attempts
    assert service.consumer_stats()["retried"] - before == len(fast_broker.retry_delays_ms)


def test_event_that_breaks_its_schema_is_dead_lettered_at_once_without_retries(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    shared_vhost: Vhost,
    fast_topology: Topology,
    fast_broker: BrokerSettings,
    service: AppointmentService,
    tenant: str,
) -> None:
    appt = book()
    good = payment_event(
        "payment.completed", appointment_id=appt["appointmentId"], tenant_id=tenant
    )
    body = json.loads(good.body)
    body["amount"] = "seventy-five"  # must be a number
    before = service.consumer_stats()["retried"]

    publish_raw_message(
        shared_vhost.url,
        fast_topology.exchange.name,
        "payment.completed",
        json.dumps(body).encode(),
        good.envelope.properties(),
    )

    dead = wait_for(
        lambda: _dead_letter(shared_vhost.url, fast_topology, fast_broker.payment_queue, good),
        timeout=20,
        what=f"{good.message_id} in the DLQ",
    )
    assert dead is not None
    assert dead.headers[env.DEAD_LETTER_REASON_HEADER] == "schema-violation"
    assert "amount" in dead.headers[env.EXCEPTION_MESSAGE_HEADER]
    assert dead.headers[env.ATTEMPT_HEADER] == 1
    assert service.consumer_stats()["retried"] == before
    assert fetch(appt["appointmentId"])["paymentStatus"] == "pending"


def test_refund_before_completion_cancels_and_the_late_completion_is_ignored(
    book: Callable[..., Appointment],
    fetch: Callable[[str], Appointment],
    publisher: Publisher,
    service: AppointmentService,
    appointment_events: EventTap,
    tenant: str,
) -> None:
    appt = book()
    appointment_id = appt["appointmentId"]
    refund = payment_event("payment.refunded", appointment_id=appointment_id, tenant_id=tenant)
    completion = payment_event(
        "payment.completed",
        appointment_id=appointment_id,
        tenant_id=tenant,
        paymentId=json.loads(refund.body)["paymentId"],
    )
    before = service.consumer_stats()["acked"]

    publisher.publish(refund)
    publisher.publish(completion)
    processed(service, before, 2)

    after = fetch(appointment_id)
    assert (after["status"], after["paymentStatus"]) == ("cancelled", "refunded")
    assert (
        len(appointment_events.matching("appointment.cancelled", appointmentId=appointment_id)) == 1
    )
    assert appointment_events.matching("appointment.confirmed", appointmentId=appointment_id) == []


_dead: dict[str, IncomingMessage] = {}


def _dead_letter(
    url: str, topology: Topology, queue: str, event: OutgoingMessage
) -> IncomingMessage | None:
    """The DLQ copy of ``event``, collected across polls (drained so it is never redelivered)."""
    for message in drain(url, topology.queue(queue).dlq):
        _dead[str(message.properties.get("message_id"))] = message
    return _dead.get(event.message_id)
