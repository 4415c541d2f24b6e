"""Both services together: one booking, its payment delivered three times, two emails."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from mocks.smtp.server import MockSmtpServer
from sandbox.messaging import Publisher
from sandbox.pytest_plugin import Vhost
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common.db import make_engine
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology
from sandbox.waiting import wait_for
from tests.appointment.support import BOOKING, appointment_service, payment_event
from tests.notifier.support import Inbox, notifier_service, unique_email
from tests.service_support import FAST_BROKER

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox_broker_settings() -> BrokerSettings:
    return FAST_BROKER


def test_payment_delivered_three_times_confirms_once_and_the_customer_gets_one_email_of_each(
    tmp_path: Path,
    sandbox_declared_vhost: Vhost,
    sandbox_broker_settings: BrokerSettings,
    sandbox_topology: Topology,
    own_smtp: MockSmtpServer,
) -> None:
    inbox = Inbox(own_smtp.http_url)
    recipient = unique_email()
    flow = f"flow-{uuid.uuid4().hex}"
    (tmp_path / "a").mkdir()
    (tmp_path / "n").mkdir()
    with (
        appointment_service(
            tmp_path / "a", sandbox_declared_vhost.url, sandbox_broker_settings
        ) as appointments,
        notifier_service(
            tmp_path / "n",
            sandbox_declared_vhost.url,
            sandbox_broker_settings,
            smtp_port=own_smtp.smtp_port,
            processes=("web", "consumer"),
        ) as notifier,
        Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher,
    ):
        created = requests.post(
            f"{appointments.url}/appointments",
            json={**BOOKING, "customerEmail": recipient},
            headers={"X-Tenant-Id": "tenant123", "X-Correlation-Id": flow},
            timeout=5,
        ).json()
        appointment_id = created["appointmentId"]
        # Without the payer's email, so the notifier finds the recipient in its
        # projection of appointment.created.
        payment = payment_event(
            "payment.completed",
            appointment_id=appointment_id,
            tenant_id="tenant123",
            correlation_id=flow,
            amount=75.0,
            customerEmail=None,
            customerName=None,
        )
        for _ in range(3):
            publisher.publish(payment)

        wait_for(
            lambda: len(inbox.messages(to=recipient)) >= 2,
            timeout=30,
            what="the confirmation and the receipt",
            seen=lambda: notifier.audit(correlation_id=flow),
        )
        wait_for(
            lambda: (
                appointments.consumer_stats()["acked"] >= 3
                and appointments.outbox_pending() == 0
                and notifier.consumer_stats()["acked"] >= 5
            ),  # created, confirmed, 3 payments
            timeout=30,
            what="both consumers idle",
            seen=lambda: (appointments.consumer_stats(), notifier.consumer_stats()),
        )
        mails = [inbox.message(m["id"]) for m in inbox.messages(to=recipient)]
        store = AppointmentStore(make_engine(appointments.database_url))
        events = store.outbox_events(appointment_id)
        store.engine.dispose()

    assert sorted(m["headers"]["X-Notification-Template"][0] for m in mails) == [
        "appointment_confirmed",
        "payment_succeeded",
    ]
    assert {m["headers"]["X-Correlation-Id"][0] for m in mails} == {flow}
    assert events == ["appointment.created", "appointment.confirmed"]
