"""The appointment API over real HTTP, against the running web process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from sandbox.contracts import ContractRegistry
from sandbox.waiting import wait_for
from tests.appointment.support import AppointmentService
from tests.service_support import EventTap

pytestmark = pytest.mark.integration


def test_new_appointment_is_pending_and_its_created_event_carries_the_request_correlation_id(
    service: AppointmentService,
    http: requests.Session,
    tenant: str,
    appointment_events: EventTap,
) -> None:
    flow = f"flow-{uuid.uuid4().hex}"
    response = http.post(
        f"{service.url}/appointments",
        json={
            "customerName": "Jane Doe",
            "customerEmail": "jane.doe@example.com",
            "service": "Facial treatment",
            "startTime": "2030-06-05T09:30:00+02:00",
            "price": 75.1,
            "currency": "EUR",
        },
        headers={"X-Tenant-Id": tenant, "X-Correlation-Id": flow},
    )

    assert response.status_code == 201, response.text
    appt = response.json()
    assert response.headers["Location"] == f"/appointments/{appt['appointmentId']}"
    assert response.headers["X-Correlation-Id"] == flow
    assert (appt["status"], appt["paymentStatus"]) == ("pending_confirmation", "pending")
    assert (appt["tenantId"], appt["price"], appt["currency"]) == (tenant, 75.1, "EUR")
    assert appt["customerId"].startswith("cust_")
    [created] = wait_for(
        lambda: appointment_events.matching(
            "appointment.created", appointmentId=appt["appointmentId"]
        ),
        timeout=20,
        what="appointment.created on the bus",
    )
    assert created.properties["correlation_id"] == flow
    registry = ContractRegistry.load()
    assert registry.validate_delivered(created) == []


def test_another_tenant_cannot_see_or_cancel_the_appointment(
    service: AppointmentService, http: requests.Session, book: Callable[..., dict[str, Any]]
) -> None:
    appt = book()
    other = {"X-Tenant-Id": "someone_else"}
    url = f"{service.url}/appointments/{appt['appointmentId']}"

    assert http.get(url, headers=other).json()["error"]["code"] == "APPOINTMENT_NOT_FOUND"
    assert http.post(f"{url}/cancel", headers=other).status_code == 404
    listing = http.get(f"{service.url}/appointments", headers=other).json()
    assert appt["appointmentId"] not in [a["appointmentId"] for a in listing["items"]]


def test_list_is_scoped_to_the_tenant_newest_first_and_paginated(
    service: AppointmentService,
    http: requests.Session,
    book: Callable[..., dict[str, Any]],
    tenant: str,
) -> None:
    ids = [book(service=f"Service {n}")["appointmentId"] for n in range(5)]
    headers = {"X-Tenant-Id": tenant}

    first = http.get(f"{service.url}/appointments?page=1&limit=2", headers=headers).json()
    third = http.get(f"{service.url}/appointments?page=3&limit=2", headers=headers).json()

    assert first["total"] == 5
    assert [a["appointmentId"] for a in first["items"]] == ids[::-1][:2]
    assert [a["appointmentId"] for a in third["items"]] == ids[:1]
    bad = http.get(f"{service.url}/appointments?limit=0", headers=headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_PAGINATION")


def test_cancel_on_request_cancels_publishes_once_and_refuses_a_second_cancel(
    service: AppointmentService,
    http: requests.Session,
    book: Callable[..., dict[str, Any]],
    tenant: str,
    appointment_events: EventTap,
) -> None:
    appt = book()
    url = f"{service.url}/appointments/{appt['appointmentId']}/cancel"
    headers = {"X-Tenant-Id": tenant}

    first = http.post(url, json={"reason": "Feeling unwell"}, headers=headers)
    second = http.post(url, headers=headers)

    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["cancellationReason"]) == (
        "cancelled",
        "Feeling unwell",
    )
    assert (second.status_code, second.json()["error"]["code"]) == (
        409,
        "APPOINTMENT_ALREADY_CANCELLED",
    )
    [cancelled] = wait_for(
        lambda: appointment_events.matching(
            "appointment.cancelled", appointmentId=appt["appointmentId"]
        ),
        timeout=20,
        what="appointment.cancelled on the bus",
    )
    assert cancelled.json()["reason"] == "Feeling unwell"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"customerEmail": "not-an-email"}, "INVALID_REQUEST", "customerEmail"),
        ({"price": 10.005}, "INVALID_PRICE", "price"),
        ({"startTime": "tomorrow"}, "INVALID_REQUEST", "startTime"),
        ({"currency": "usd"}, "INVALID_REQUEST", "currency"),
        ({"cardNumber": "4111111111111111"}, "INVALID_REQUEST", ""),
    ],
)
def test_invalid_booking_is_refused_with_a_code_and_the_field(
    service: AppointmentService,
    http: requests.Session,
    change: dict[str, Any],
    code: str,
    field: str,
) -> None:
    body = {
        "customerName": "Jane",
        "customerEmail": "jane@example.com",
        "service": "Haircut",
        "startTime": "2030-06-01T10:00:00Z",
        "price": 10,
        "currency": "USD",
        **change,
    }
    response = http.post(f"{service.url}/appointments", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"].get("field", "") == field
    assert "4111111111111111" not in response.text


def test_health_reports_the_database_and_the_outbox_backlog(
    service: AppointmentService, http: requests.Session
) -> None:
    body = http.get(f"{service.url}/health").json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert isinstance(body["outbox"]["pending"], int)


def test_consumer_and_relay_processes_report_their_broker_connection(
    service: AppointmentService, http: requests.Session
) -> None:
    consumer = http.get(service.consumer_health).json()
    relay = http.get(service.relay_health).json()
    assert consumer["checks"]["broker"] == {"ok": True}
    assert consumer["consumer"]["queues"] == ["payment_events"]
    assert relay["checks"]["broker"] == {"ok": True}
    assert relay["process"] == "relay"
