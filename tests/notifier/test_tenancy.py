"""Tenants in the notifier: recipients found by tenant and appointment, audit log per tenant.

Real notifier processes, a real broker and a real SMTP socket.  Two tenants' appointments
share one id on purpose (only a publisher that bypasses the appointment service can do
that): the id alone must never decide who is written to.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from sandbox.messaging import Publisher
from sandbox.services.common.db import make_engine
from sandbox.services.notifier.storage import NotifierStore
from sandbox.waiting import wait_for
from tests.appointment.support import payment_event
from tests.notifier.support import Inbox, NotifierService, appointment_event, unique_email

pytestmark = pytest.mark.integration


def _audit(notifier: NotifierService, tenant: str | None, **filters: str) -> list[dict]:
    return notifier.audit(tenant, **filters)


def test_each_tenants_payment_email_goes_to_that_tenants_customer(
    notifier: NotifierService, inbox: Inbox, publisher: Publisher
) -> None:
    shared_id = f"appt_{uuid.uuid4().hex[:20]}"
    tenants = {f"tenant-{name}-{uuid.uuid4().hex[:6]}": unique_email() for name in "ab"}
    for tenant, email in tenants.items():
        publisher.publish(
            appointment_event(
                "appointment.created", appointmentId=shared_id, tenantId=tenant, customerEmail=email
            )
        )
    flows = {tenant: f"flow-{uuid.uuid4().hex}" for tenant in tenants}
    stranger, stranger_flow = f"tenant-c-{uuid.uuid4().hex[:6]}", f"flow-{uuid.uuid4().hex}"

    store = NotifierStore(make_engine(notifier.database_url))
    try:
        for tenant in tenants:
            wait_for(
                lambda t=tenant: store.appointment(t, shared_id),
                timeout=20,
                what=f"the appointment.created of {tenant} consumed",
            )
    finally:
        store.engine.dispose()
    # without the customer's address: the notifier must find it by tenant and appointment
    for tenant, flow in [*flows.items(), (stranger, stranger_flow)]:
        publisher.publish(
            payment_event(
                "payment.completed",
                appointment_id=shared_id,
                tenant_id=tenant,
                correlation_id=flow,
                customerEmail=None,
                customerName=None,
            )
        )

    for tenant, email in tenants.items():
        wait_for(
            lambda e=email: inbox.messages(to=e),
            timeout=20,
            what=f"the receipt of {tenant} to {email}",
            seen=lambda t=tenant: _audit(notifier, t),
        )
    unknown = wait_for(
        lambda: _audit(notifier, stranger, correlation_id=stranger_flow, channel="email"),
        timeout=20,
        what="the stranger's email attempt to fail",
    )[0]

    assert (unknown["status"], unknown["error"]["code"]) == ("failed", "RECIPIENT_UNKNOWN")
    assert unknown["recipient"] is None
    for tenant, email in tenants.items():
        mails = [inbox.message(m["id"]) for m in inbox.messages(to=email)]
        assert [m["headers"]["X-Correlation-Id"] for m in mails] == [[flows[tenant]]], tenant


def test_the_audit_log_shows_each_tenant_only_its_own_attempts(
    notifier: NotifierService, publisher: Publisher, http: requests.Session
) -> None:
    tenant, other = (f"tenant-{uuid.uuid4().hex[:8]}" for _ in range(2))
    flow = f"flow-{uuid.uuid4().hex}"
    email = unique_email()
    event = appointment_event(
        "appointment.cancelled", correlation_id=flow, tenantId=tenant, customerEmail=email
    )
    publisher.publish(event)
    [row] = wait_for(
        lambda: _audit(notifier, tenant, correlation_id=flow),
        timeout=20,
        what=f"the audit row of {flow}",
    )
    assert (row["tenantId"], row["recipient"]) == (tenant, email)

    probes = {
        "other tenant": {"X-Tenant-Id": other},
        "no tenant header": {},
    }
    for name, headers in probes.items():
        for params in ({}, {"correlation_id": flow}, {"event_id": event.message_id}):
            page = http.get(f"{notifier.url}/notifications", params=params, headers=headers)
            assert page.status_code == 200, (name, params)
            assert email not in page.text and flow not in page.text, (name, params)
            assert event.message_id not in page.text, (name, params)
            if params:
                assert page.json()["total"] == 0, (name, params)
    refused = http.get(f"{notifier.url}/notifications", headers={"X-Tenant-Id": "no spaces"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "INVALID_TENANT")
