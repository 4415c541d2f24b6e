"""Every documented operation of every service, called as someone other than tenant A."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from sandbox.contracts.files import default_contracts_dir
from sandbox.scenario.clients import SourceAddressAdapter, flow_source_ip
from sandbox.signing import sign
from tests.tenancy.tenant_a import PRICE, TenantA

SERVICES = ("payment", "appointment", "notifier")


def documented_operations() -> set[tuple[str, str, str]]:
    """(service, METHOD, path) of every operation in the services' OpenAPI documents."""
    found = set()
    for service in SERVICES:
        path = default_contracts_dir() / "http" / f"{service}.openapi.yaml"
        document = yaml.safe_load(Path(path).read_text())
        for template, operations in document["paths"].items():
            for method in operations:
                if method in ("get", "post", "put", "patch", "delete"):
                    found.add((service, method.upper(), template))
    return found


@dataclass(frozen=True)
class Probe:
    service: str
    method: str
    template: str
    path: str
    expect: tuple[int, ...]
    params: dict[str, Any] | None = None
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    probe: Probe
    caller: str
    status: int
    text: str
    request: str

    def leaks(self, markers: set[str]) -> list[str]:
        return sorted(m for m in markers if m in self.text and m not in self.request)


def signed(secret: str, event_type: str, obj: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "id": f"evt_probe_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()
    return body, {"Content-Type": "application/json", "Stripe-Signature": sign(secret, body)}


def probes_for(a: TenantA, caller_tenant: str, secret: str) -> list[Probe]:
    paid, pending = a.payments
    first, second = a.appointments
    foreign = {"tenant_id": caller_tenant, "transaction_id": f"TXN-{uuid.uuid4().hex[:16]}"}
    probes = [
        Probe("payment", "GET", "/health", "/health", (200,)),
        Probe("payment", "GET", "/openapi.json", "/openapi.json", (200,)),
        Probe("payment", "GET", "/payment/methods", "/payment/methods", (200,)),
        Probe("payment", "GET", "/payments", "/payments", (200,)),
        Probe("payment", "GET", "/payments", "/payments", (200,), {"limit": 100}),
        *[
            Probe("payment", "GET", "/payments", "/payments", (200,), {"status": status})
            for status in ("pending", "completed", "partially_refunded", "refunded", "failed")
        ],
        Probe(
            "payment",
            "GET",
            "/payment/status/{transaction_id}",
            f"/payment/status/{paid}",
            (404,),
        ),
        Probe(
            "payment",
            "GET",
            "/payment/{transaction_id}/timeline",
            f"/payment/{paid}/timeline",
            (404,),
        ),
        Probe(
            "payment",
            "POST",
            "/payment/{transaction_id}/cancel",
            f"/payment/{pending}/cancel",
            (404,),
            body={"reason": "not yours"},
        ),
        Probe(
            "payment",
            "POST",
            "/payment/refund",
            "/payment/refund",
            (404,),
            body={
                "booking_id": first,
                "original_transaction_id": paid,
                "refund_amount": 1.0,
                "reason": "not yours",
                "user_id": "user_a",
            },
        ),
        *[
            Probe("payment", "POST", "/payment/process", "/payment/process", (404,), **request)
            for request in (
                # A's very request, with A's Idempotency-Key: no replay of A's answer
                {"body": a.paid_body, "headers": {"Idempotency-Key": a.idempotency_key}},
                {"body": {**a.paid_body, "booking_id": second, "customer_email": "b@example.com"}},
            )
        ],
        Probe(
            "payment",
            "POST",
            "/payment/intents",
            "/payment/intents",
            (404,),
            body={"user_id": "user_b", "booking_id": second, "amount": PRICE},
        ),
        Probe("appointment", "GET", "/health", "/health", (200,)),
        Probe("appointment", "GET", "/openapi.json", "/openapi.json", (200,)),
        Probe("appointment", "GET", "/appointments", "/appointments", (200,)),
        *[
            Probe("appointment", "GET", "/appointments", "/appointments", (200,), {"status": s})
            for s in ("pending_confirmation", "confirmed", "cancelled")
        ],
        Probe(
            "appointment",
            "GET",
            "/appointments/{appointment_id}",
            f"/appointments/{first}",
            (404,),
        ),
        Probe(
            "appointment",
            "POST",
            "/appointments/{appointment_id}/cancel",
            f"/appointments/{second}/cancel",
            (404,),
            body={"reason": "not yours"},
        ),
        Probe(
            "appointment",
            "POST",
            "/appointments",
            "/appointments",
            (201,),
            body={
                "customerName": "Bea Prober",
                "customerEmail": "bea@example.com",
                "service": "Consultation",
                "startTime": "2030-01-15T10:00:00Z",
                "price": PRICE,
                "currency": "USD",
            },
        ),
        Probe("notifier", "GET", "/health", "/health", (200,)),
        Probe("notifier", "GET", "/openapi.json", "/openapi.json", (200,)),
        Probe("notifier", "GET", "/notifications", "/notifications", (200,)),
        Probe(
            "notifier",
            "GET",
            "/notifications",
            "/notifications",
            (200,),
            {"correlation_id": a.correlation_id},
        ),
        *[
            Probe("notifier", "GET", "/notifications", "/notifications", (200,), params)
            for params in (
                *({"event_id": event_id} for event_id in a.event_ids),
                {"channel": "email"},
                {"channel": "webhook"},
                {"status": "sent"},
                {"status": "failed"},
                {"limit": 500, "page": 1},
            )
        ],
    ]
    # validly signed webhooks naming A's intents (and a charge of A's) as the caller's own
    pi = a.pending_intent
    hooks = [
        ("payment_intent.succeeded", {"id": pi, "object": "payment_intent", "amount": 7500}),
        ("payment_intent.canceled", {"id": pi, "object": "payment_intent", "amount": 7500}),
        ("payment_intent.payment_failed", {"id": pi, "object": "payment_intent"}),
        ("charge.refunded", {"id": "ch_probe", "object": "charge", "payment_intent": a.intents[0]}),
    ]
    for event_type, obj in hooks:
        extra = {"currency": "usd", "status": "succeeded", "metadata": foreign}
        body, headers = signed(secret, event_type, {**extra, **obj})
        probes.append(webhook_probe(body, headers, 200))
    unsigned, _ = signed(secret, "payment_intent.succeeded", {"id": pi, "object": "payment_intent"})
    probes.append(webhook_probe(unsigned, {"Content-Type": "application/json"}, 400))
    return probes


def webhook_probe(body: bytes, headers: dict[str, str], expect: int) -> Probe:
    """POST ``body`` to the payment webhook exactly as it is, with ``headers``."""
    return Probe(
        "payment",
        "POST",
        "/payment/webhook",
        "/payment/webhook",
        (expect,),
        raw=body,
        headers=headers,
    )


def call(base: dict[str, str], probe: Probe, caller: str, headers: dict[str, str]) -> Answer:
    with requests.Session() as session:
        # one client address per request: the payment service rate-limits per address
        session.mount("http://", SourceAddressAdapter(flow_source_ip(uuid.uuid4().hex)))
        sent = {**headers, **probe.headers}
        response = session.request(
            probe.method,
            f"{base[probe.service]}{probe.path}",
            params=probe.params,
            json=probe.body if probe.raw is None else None,
            data=probe.raw,
            headers=sent,
            timeout=15,
        )
    request = " ".join(
        [
            probe.path,
            json.dumps(probe.params or {}),
            json.dumps(probe.body) if probe.body is not None else "",
            (probe.raw or b"").decode(),
            json.dumps(sent),
        ]
    )
    return Answer(probe, caller, response.status_code, response.text, request)
