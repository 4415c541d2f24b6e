"""Tenancy on every path, probed from outside against one whole running sandbox.

Tenant A books, pays (with an Idempotency-Key), is partly refunded and opens a second
payment as an intent; the notifier emails A's customer and audits it all.  Then a
second tenant, and a caller without ``X-Tenant-Id`` (the default tenant), call every
operation of every service's OpenAPI document: reads, lists, every filter, writes naming
A's objects, and provider webhooks (validly signed) naming A's intents with their own
tenant.  No answer may carry anything of A's the request did not itself name, and
nothing of A's may change: A's appointments, payments, timelines, audit log, inbox and
the provider's intent are read before and after and must be the same.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from sandbox.control.state import SupervisorClient
from sandbox.scenario.flow import Flow
from sandbox.services.appointment.api import create_app as appointment_app
from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.services.common.db import sqlite_url
from sandbox.services.notifier.api import create_app as notifier_app
from sandbox.services.notifier.settings import NotifierSettings
from sandbox.services.payment.api import create_app as payment_app
from sandbox.services.payment.fake_provider import FakeProvider
from sandbox.services.payment.settings import PaymentSettings
from tests.tenancy.probes import SERVICES, Answer, call, documented_operations, probes_for
from tests.tenancy.tenant_a import PRICE, TenantA, run_tenant_a, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_route_of_every_service_is_in_its_openapi_document(tmp_path: Path):
    """The documents list every operation the services serve, so probing the documented
    operations probes them all."""
    url = sqlite_url(tmp_path / "services.db")
    apps = {
        "payment": payment_app(PaymentSettings(database_url=url), provider=FakeProvider()),
        "appointment": appointment_app(AppointmentSettings(database_url=url)),
        "notifier": notifier_app(NotifierSettings(database_url=url)),
    }
    served = set()
    for service, app in apps.items():
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(service, m, template) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented_operations()


@dataclass
class Probed:
    a: TenantA
    b_tenant: str
    before: dict[str, Any]
    after: dict[str, Any]
    answers: list[Answer]
    provider_intents: list[dict[str, Any]]


@pytest.fixture(scope="module")
def probed(sandbox_stack: SupervisorClient) -> Probed:
    state = sandbox_stack.state()
    base = {service: sandbox_stack.endpoint(service) for service in SERVICES}
    provider_url = sandbox_stack.endpoint("provider")
    webhooks = requests.get(f"{provider_url}/_control/webhooks", timeout=5).json()
    [secret] = {e["secret"] for e in webhooks["endpoints"] if e["url"].startswith(base["payment"])}
    tenant_a, tenant_b = (f"tenant-{n}-{uuid.uuid4().hex[:8]}" for n in "ab")

    with Flow(state, sandbox_stack, "tenancy-a", tenant=tenant_a) as flow_a:
        a = run_tenant_a(flow_a, provider_url)
        before = snapshot(flow_a, a, provider_url)
        answers = []
        for caller, headers in (("tenant B", {"X-Tenant-Id": tenant_b}), ("no tenant", {})):
            tenant = tenant_b if headers else "default"
            for probe in probes_for(a, tenant, secret):
                answers.append(call(base, probe, caller, headers))
        # a barrier: once B's own payment has been emailed, anything the probes caused
        # on the same queues has been handled as well
        with Flow(state, sandbox_stack, "tenancy-b", tenant=tenant_b) as flow_b:
            booking = flow_b.appointments.create(customerEmail=f"b-{tenant_b}@example.com")
            flow_b.payments.pay_by_card(booking_id=booking["appointmentId"], amount=PRICE)
            flow_b.expect_email(subject="Payment received", within=20)
            flow_b.expect_email(subject="Appointment confirmed", within=20)
        after = snapshot(flow_a, a, provider_url)
    provider = stripe.StripeClient("sk_test_tenancy_probe", base_addresses={"api": provider_url})
    intents = [pi.to_dict() for pi in provider.v1.payment_intents.list(params={"limit": 100})]
    return Probed(a, tenant_b, before, after, answers, intents)


def test_every_documented_operation_is_probed(probed: Probed):
    covered = {(a.probe.service, a.probe.method, a.probe.template) for a in probed.answers}
    assert documented_operations() - covered == set()
    assert {a.caller for a in probed.answers} == {"tenant B", "no tenant"}


def test_no_answer_to_another_tenant_or_to_no_tenant_carries_anything_of_tenant_a(
    probed: Probed,
):
    markers = probed.a.markers()
    unexpected = [
        (a.caller, a.probe.method, a.probe.path, a.probe.params, a.status, a.text[:200])
        for a in probed.answers
        if a.status not in a.probe.expect
    ]
    leaks = [
        (a.caller, a.probe.method, a.probe.path, a.probe.params, a.leaks(markers))
        for a in probed.answers
        if a.leaks(markers)
    ]
    assert unexpected == []
    assert leaks == []


def test_nothing_of_tenant_a_changes(probed: Probed):
    assert probed.after == probed.before


def test_webhooks_naming_tenant_a_as_another_tenant_are_rejected(probed: Probed):
    signed = [
        json.loads(a.text)
        for a in probed.answers
        if a.probe.template == "/payment/webhook" and a.status == 200
    ]
    assert len(signed) == 8
    assert {answer["outcome"] for answer in signed} == {"rejected: tenant_mismatch"}


def test_paying_for_tenant_a_appointments_is_refused_before_the_provider(probed: Probed):
    refused = [
        a for a in probed.answers if a.probe.template in ("/payment/process", "/payment/intents")
    ]
    assert len(refused) == 6
    for answer in refused:
        body = json.loads(answer.text)
        assert set(body) == {"error", "timestamp"}, body
        assert body["error"]["code"] == "BOOKING_NOT_FOUND", body
        assert body["error"]["details"] == {"field": "booking_id"}, body
    booked = set(probed.a.appointments)
    at_the_provider = [
        pi["metadata"]
        for pi in probed.provider_intents
        if pi["metadata"].get("booking_id") in booked
    ]
    assert at_the_provider and all(m["tenant_id"] == probed.a.tenant for m in at_the_provider)
    # A's customer got A's three emails and nothing since (the inbox is in the snapshot)
    assert len(probed.after["inbox"]) == 3
