"""Tenant A's whole flow against a running sandbox, and everything of A's as A sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
import stripe

from sandbox.scenario.flow import Flow
from sandbox.waiting import wait_for

PRICE = 75.0
CARD = {
    "card_number": "4111111111111111",
    "expiry_month": "12",
    "expiry_year": "2034",
    "cvv": "123",
    "cardholder_name": "Probe Card",
}


@dataclass
class TenantA:
    tenant: str
    email: str
    name: str
    correlation_id: str
    idempotency_key: str
    paid_body: dict[str, Any]
    appointments: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)

    @property
    def pending_intent(self) -> str:
        return self.intents[-1]

    def markers(self) -> set[str]:
        """Strings that are A's and nobody else's."""
        return {
            self.tenant,
            self.email,
            self.name,
            self.correlation_id,
            *self.appointments,
            *self.payments,
            *self.intents,
            *self.refunds,
            *self.event_ids,
        }


def run_tenant_a(flow: Flow, provider_url: str) -> TenantA:
    token = uuid.uuid4().hex[:10]
    a = TenantA(
        tenant=flow.tenant,
        email=f"customer-a-{token}@example.com",
        name=f"Ada Probe{token}",
        correlation_id=flow.correlation_id,
        idempotency_key=f"key-a-{token}",
        paid_body={},
    )
    customer = {"customerEmail": a.email, "customerName": a.name}
    first = flow.appointments.create(**customer)["appointmentId"]
    a.appointments.append(first)
    a.paid_body = {
        "user_id": "user_a",
        "booking_id": first,
        "amount": PRICE,
        "payment_method": "credit_card",
        "customer_email": a.email,
        "card_details": CARD,
    }
    paid = flow.payments.post(
        "/payment/process",
        json=a.paid_body,
        headers={"Idempotency-Key": a.idempotency_key},
        expect=200,
    )
    a.payments.append(paid["transaction_id"])
    flow.expect("appointment.confirmed", within=10)
    refund = flow.payments.refund(
        transaction_id=paid["transaction_id"], booking_id=first, amount=25.0, user_id="user_a"
    )
    a.refunds.append(refund["refund_transaction_id"])
    second = flow.appointments.create(**customer)["appointmentId"]
    a.appointments.append(second)
    intent = flow.payments.post(
        "/payment/intents",
        json={"user_id": "user_a", "booking_id": second, "amount": PRICE},
        expect=201,
    )
    a.payments.append(intent["transaction_id"])
    a.intents.append(intent["payment_intent_id"])
    provider = stripe.StripeClient("sk_test_tenancy_probe", base_addresses={"api": provider_url})
    listed = [pi.to_dict() for pi in provider.v1.payment_intents.list(params={"limit": 100})]
    a.intents[:0] = [
        pi["id"]
        for pi in listed
        if pi["metadata"].get("tenant_id") == a.tenant and pi["id"] != intent["payment_intent_id"]
    ]
    flow.expect_email(subject="Appointment confirmed", within=15)
    flow.expect_email(subject="Payment received", within=15)
    flow.expect_email(subject="Refund processed", within=15)

    # 3 emails and 4 merchant callbacks (2 x payment.created, completed, refunded)
    def audited() -> list[dict[str, Any]]:
        rows = flow.notifier.get("/notifications", params={"limit": 500}, record=False)["items"]
        return list(rows) if len(rows) >= 7 else []

    audit = wait_for(audited, timeout=20, what="tenant A's seven notifications audited")
    a.event_ids = sorted({row["eventId"] for row in audit})
    _wait_for_webhooks(provider_url, a)
    return a


def _wait_for_webhooks(provider_url: str, a: TenantA) -> None:
    """Until the provider has delivered every event about A's intents (and charges)."""
    auth = {"Authorization": "Bearer sk_test_tenancy_probe"}

    def ours() -> set[str]:
        events = requests.get(
            f"{provider_url}/v1/events", params={"limit": 100}, headers=auth, timeout=5
        ).json()["data"]
        return {
            e["id"]
            for e in events
            if {e["data"]["object"].get("id"), e["data"]["object"].get("payment_intent")}
            & set(a.intents)
        }

    def settled() -> bool:
        ids = ours()
        deliveries = requests.get(
            f"{provider_url}/_control/webhooks/deliveries", params={"limit": 1000}, timeout=5
        ).json()["data"]
        mine = [d for d in deliveries if d["event_id"] in ids]
        return (
            bool(ids)
            and {d["event_id"] for d in mine} == ids
            and all(d["status"] in ("delivered", "failed", "lost") for d in mine)
        )

    wait_for(settled, timeout=30, what="every webhook about tenant A's intents delivered")


def snapshot(flow: Flow, a: TenantA, provider_url: str) -> dict[str, Any]:
    """Everything of A's, as A sees it."""
    get = flow.appointments.get
    pay = flow.payments.get
    state: dict[str, Any] = {
        "appointments": get("/appointments", params={"limit": 100}, expect=200, record=False),
        "payments": pay("/payments", params={"limit": 100}, expect=200, record=False),
        "audit": flow.notifier.get(
            "/notifications", params={"limit": 500}, expect=200, record=False
        ),
        "inbox": sorted(m["id"] for m in flow.smtp.messages(to=a.email)),
    }
    for appointment in a.appointments:
        state[appointment] = get(f"/appointments/{appointment}", expect=200, record=False)
    for payment in a.payments:
        state[payment] = pay(f"/payment/status/{payment}", expect=200, record=False)
        state[f"{payment}/timeline"] = pay(f"/payment/{payment}/timeline", expect=200, record=False)
    provider = stripe.StripeClient("sk_test_tenancy_probe", base_addresses={"api": provider_url})
    for intent in a.intents:
        found = provider.v1.payment_intents.retrieve(intent).to_dict()
        state[intent] = (found["status"], found["amount"], found["metadata"])
    return state
