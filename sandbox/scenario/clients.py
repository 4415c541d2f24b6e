"""HTTP clients for the sandbox's services and mocks, recording every call.

Each call carries the flow's ``X-Correlation-Id`` and ``X-Tenant-Id`` and lands in the
timeline with its method, path, status and duration, so a report shows the HTTP side of
a flow next to its events.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from sandbox.messaging.envelope import CORRELATION_HEADER
from sandbox.scenario.timeline import Entry, Timeline


class SourceAddressAdapter(HTTPAdapter):
    """Connect from a chosen local address, so that each flow is its own client IP."""

    def __init__(self, source_ip: str) -> None:
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def flow_source_ip(seed: str) -> str:
    """A loopback address (127.0.0.0/8 is all local on Linux) derived from the flow."""
    digest = hashlib.sha256(seed.encode()).digest()
    return f"127.{digest[0]}.{digest[1]}.{2 + digest[2] % 250}"


class ServiceError(AssertionError):
    """A call answered with a status the scenario did not expect."""


def _record(
    timeline: Timeline,
    lane: str,
    path: str,
    response: requests.Response,
    began: float,
    sent: Any,
    ok: bool,
) -> Any:
    """Put one call on the timeline; return the answer's body (JSON, else its text)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    method = response.request.method
    elapsed_ms = (time.time() - began) * 1000
    timeline.add(
        Entry(
            began,
            "http",
            "client",
            lane,
            f"{method} {path} -> {response.status_code} ({elapsed_ms:.0f} ms)",
            response.request.headers.get(CORRELATION_HEADER),
            {"request": sent, "response": body, "status": response.status_code},
            ok=ok,
        )
    )
    return body


def recording_session(lane: str, timeline: Timeline) -> requests.Session:
    """A session for a mock's client that puts each call on the timeline.

    Reading a mock (its inbox, its records) observes the flow and is left out unless it
    fails; driving it (a fault, a reset) is part of the flow.
    """
    session = requests.Session()

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        ok = response.status_code < 400
        if response.request.method == "GET" and ok:
            return
        began = time.time() - response.elapsed.total_seconds()
        body = response.request.body
        sent = json.loads(body) if body else None
        _record(timeline, lane, urlsplit(response.url).path, response, began, sent, ok)

    session.hooks["response"].append(record)
    return session


class Client:
    def __init__(
        self,
        lane: str,
        base_url: str,
        timeline: Timeline,
        headers: dict[str, str],
        timeout_s: float = 10.0,
        source_ip: str | None = None,
    ) -> None:
        self.lane = lane
        self.base_url = base_url.rstrip("/")
        self.timeline = timeline
        self.headers = headers
        self.timeout_s = timeout_s
        self.session = requests.Session()
        if source_ip and sys.platform.startswith("linux"):
            self.session.mount("http://", SourceAddressAdapter(source_ip))

    def call(
        self,
        method: str,
        path: str,
        *,
        expect: int | tuple[int, ...] | None = None,
        headers: dict[str, str] | None = None,
        record: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        began = time.time()
        response = self.session.request(
            method,
            f"{self.base_url}{path}",
            headers={**self.headers, **(headers or {})},
            timeout=kwargs.pop("timeout", self.timeout_s),
            **kwargs,
        )
        expected = (expect,) if isinstance(expect, int) else expect
        ok = expected is None or response.status_code in expected
        if record or not ok:
            body = _record(self.timeline, self.lane, path, response, began, kwargs.get("json"), ok)
        if not ok:
            raise ServiceError(
                f"{method} {path}: expected {expected}, got "
                f"{response.status_code}: {str(body)[:300]}"
            )
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs).json()


class AppointmentClient(Client):
    def create(self, *, expect: int = 201, **fields: Any) -> dict[str, Any]:
        body = {
            "customerName": "Ada Lovelace",
            "customerEmail": "ada@example.com",
            "service": "Consultation",
            "startTime": "2030-01-15T10:00:00Z",
            "price": 75.0,
            "currency": "USD",
            **fields,
        }
        return dict(self.post("/appointments", json=body, expect=expect))

    def fetch(self, appointment_id: str) -> dict[str, Any]:
        return dict(self.get(f"/appointments/{appointment_id}", expect=200))

    def cancel(self, appointment_id: str, **body: Any) -> dict[str, Any]:
        return dict(self.post(f"/appointments/{appointment_id}/cancel", json=body))


class PaymentClient(Client):
    def pay_by_card(
        self,
        *,
        booking_id: str,
        amount: float,
        card: str = "4111111111111111",
        user_id: str = "user_123",
        expect: int | tuple[int, ...] = 200,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "user_id": user_id,
            "booking_id": booking_id,
            "amount": amount,
            "payment_method": "credit_card",
            "card_details": {
                "card_number": card,
                "expiry_month": "12",
                "expiry_year": "2034",
                "cvv": "123",
                "cardholder_name": "Ada Lovelace",
            },
            **extra,
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return dict(self.post("/payment/process", json=body, expect=expect, headers=headers))

    def refund(
        self,
        *,
        transaction_id: str,
        booking_id: str,
        amount: float,
        reason: str = "Customer cancellation",
        user_id: str = "user_123",
        expect: int | tuple[int, ...] = 200,
    ) -> dict[str, Any]:
        body = {
            "booking_id": booking_id,
            "original_transaction_id": transaction_id,
            "refund_amount": amount,
            "reason": reason,
            "user_id": user_id,
        }
        return dict(self.post("/payment/refund", json=body, expect=expect))

    def status(self, transaction_id: str) -> dict[str, Any]:
        return dict(self.get(f"/payment/status/{transaction_id}", expect=200))


class NotifierClient(Client):
    def notifications(self, **filters: str) -> list[dict[str, Any]]:
        data = self.get("/notifications", params=filters, expect=200)
        return list(data.get("notifications", data) if isinstance(data, dict) else data)
