"""A tenant pays only for its own appointments: the rule (fake provider, fake appointment
directory) and the adapter (the real appointment API over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from sandbox.services.appointment.api import create_app as appointment_app
from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.services.common.db import sqlite_url
from sandbox.services.payment.bookings import AppointmentDirectory, AppointmentsUnavailable
from tests.appointment.support import BOOKING
from tests.payment.support import card_body, free_port
from tests.payment.unit_support import outbox
from tests.provider.provider_support import serve

MINE = "appt_0123456789abcdef0123"
THEIRS = "appt_fedcba9876543210fedc"


@dataclass
class FakeDirectory:
    """Tenant ``tenant-a`` has appointment MINE; another tenant has THEIRS."""

    available: bool = True
    asked: list[tuple[str, str]] = field(default_factory=list)

    def exists(self, tenant_id: str, appointment_id: str, *, correlation_id: str) -> bool:
        self.asked.append((tenant_id, appointment_id))
        if not self.available:
            raise AppointmentsUnavailable("ConnectionError")
        return (tenant_id, appointment_id) == ("tenant-a", MINE)


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def bookings(directory: FakeDirectory) -> FakeDirectory:
    return directory


TENANT_A = {"X-Tenant-Id": "tenant-a"}


def intent_body(booking: str) -> dict:
    return {"user_id": "u", "booking_id": booking, "amount": 75}


@pytest.mark.parametrize("path", ["/payment/process", "/payment/intents"])
def test_paying_for_another_tenants_appointment_is_not_found_and_reaches_nobody(
    app, client, fake, path
):
    body = card_body(THEIRS) if path == "/payment/process" else intent_body(THEIRS)

    answer = client.post(path, json=body, headers=TENANT_A)

    assert answer.status_code == 404
    assert set(answer.json) == {"error", "timestamp"}
    assert answer.json["error"]["code"] == "BOOKING_NOT_FOUND"
    assert answer.json["error"]["details"] == {"field": "booking_id"}
    assert fake.calls == []
    assert outbox(app) == []


def test_a_tenant_pays_for_its_own_appointment(client, directory):
    answer = client.post("/payment/process", json=card_body(MINE), headers=TENANT_A)
    assert answer.status_code == 200, answer.json
    assert directory.asked == [("tenant-a", MINE)]


def test_without_a_tenant_header_the_default_tenant_is_asked(client, directory):
    answer = client.post("/payment/intents", json=intent_body(MINE))
    assert answer.json["error"]["code"] == "BOOKING_NOT_FOUND"
    assert directory.asked == [("default", MINE)]


def test_external_bookings_are_not_looked_up(client, directory):
    answer = client.post("/payment/process", json=card_body("BOOK-789012"), headers=TENANT_A)
    assert answer.status_code == 200
    assert directory.asked == []


def test_an_unavailable_appointment_service_is_a_503_the_client_may_retry(
    app, client, fake, directory
):
    directory.available = False
    headers = {**TENANT_A, "Idempotency-Key": "pay-mine"}

    refused = client.post("/payment/process", json=card_body(MINE), headers=headers)
    directory.available = True
    retried = client.post("/payment/process", json=card_body(MINE), headers=headers)

    assert refused.status_code == 503
    assert refused.json["error"]["code"] == "APPOINTMENT_SERVICE_UNAVAILABLE"
    assert refused.json["error"]["details"]["retry_possible"] is True
    assert retried.status_code == 200, retried.json
    assert fake.calls.count("create_intent") == 1


# -- the adapter over the appointment service's real API --------------------------------------


@pytest.fixture
def appointments(tmp_path: Path) -> Iterator[str]:
    settings = AppointmentSettings(database_url=sqlite_url(tmp_path / "appointment.db"))
    with serve(appointment_app(settings)) as url:
        yield url


def book(url: str, tenant: str) -> str:
    created = requests.post(
        f"{url}/appointments",
        json=BOOKING,
        headers={"X-Tenant-Id": tenant},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["appointmentId"])


def test_the_directory_knows_only_the_tenants_own_appointments(appointments):
    directory = AppointmentDirectory(appointments, timeout_s=2)
    mine = book(appointments, "tenant-a")

    assert directory.exists("tenant-a", mine, correlation_id="c1")
    assert not directory.exists("tenant-b", mine, correlation_id="c2")
    assert not directory.exists("default", mine, correlation_id="c3")
    assert not directory.exists("tenant-a", "appt_00000000000000000000", correlation_id="c4")


def test_the_directory_reports_a_service_that_does_not_answer():
    directory = AppointmentDirectory(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    with pytest.raises(AppointmentsUnavailable):
        directory.exists("tenant-a", MINE, correlation_id="c1")
