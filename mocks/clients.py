"""One small HTTP client per mock, for everything that drives or reads the mocks.

Scenarios, the load tests' fault runner and reconciliation, and the tests talk to the
mocks through these classes rather than through paths of their own.  The three mocks'
control APIs have one shape, and so do the clients:

==================  ==========================================================
``health()``        the mock's ``GET /health`` body (a 503 is a degraded mock, not an error)
``control()``       ``GET /_control``: every fault injected now
``clear_faults()``  every injected fault off; what the mock recorded is kept
``reset()``         the mock as just started: no faults, nothing recorded
records             ``SmtpClient.messages()``, ``MerchantClient.callbacks()``,
                    ``ProviderClient.deliveries()`` and ``.requests()``, with
                    the mock's filters
==================  ==========================================================

and each mock's own faults: the SMTP server ``refuse()``s mail and ``accept()``s it
again, the merchant ``fail()``s callbacks, ``delay()``s them and ``accept()``s them
again, the provider takes fault rules (``add_fault()``/``remove_fault()``), webhook
faults, a clock and a seed, and answers 3D Secure for the customer
(``authenticate()``).  A fault call answers with the mock's control state.

A call answered with an error status raises :class:`MockError`.  A client without a
``session`` opens a connection per call and leaves nothing open; given one, it sends
through it (a scenario's records each call on its timeline) and its owner closes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

Filter = str | int | Sequence[str]


class MockError(RuntimeError):
    """A mock answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status} {body[:300]}")
        self.status = status


class MockClient:
    """The HTTP API of one mock at ``base_url``."""

    def __init__(
        self, base_url: str, *, session: requests.Session | None = None, timeout_s: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout_s = timeout_s

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        http: Any = self.session if self.session is not None else requests
        response: requests.Response = http.request(
            method, self.base_url + path, timeout=self.timeout_s, **kwargs
        )
        return response

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; return its JSON answer (None when empty), or raise MockError."""
        response = self._send(method, path, json=json, params=params, headers=headers)
        if response.status_code >= 400:
            raise MockError(method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        """Return the mock's health report, healthy (200) or degraded (503)."""
        response = self._send("GET", "/health")
        if response.status_code not in (200, 503):
            raise MockError("GET", "/health", response.status_code, response.text)
        return dict(response.json())

    def control(self) -> dict[str, Any]:
        """Return every fault injected now."""
        return dict(self.call("GET", "/_control"))

    def clear_faults(self) -> dict[str, Any]:
        """Turn every injected fault off; return the control state."""
        return dict(self.call("POST", "/_control/reset"))

    def reset(self) -> None:
        """Bring the mock back to how it started: no faults, nothing recorded."""
        raise NotImplementedError


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


class SmtpClient(MockClient):
    """The mock SMTP server's inbox and refuse mode (contracts/http/mock-smtp.openapi.yaml)."""

    def messages(self, **filters: Filter) -> list[dict[str, Any]]:
        """Captured messages, oldest first.

        Filters: ``to``, ``from`` (``**{"from": ...}``), ``subject`` (substrings, any case)
        and ``header="Name:value"`` (a list for several headers).
        """
        return list(self.call("GET", "/api/messages", params=filters)["messages"])

    def message(self, message_id: str) -> dict[str, Any]:
        """One message with its headers, text and HTML bodies and raw source."""
        return dict(self.call("GET", f"/api/messages/{message_id}"))

    def delete_messages(self) -> int:
        """Forget every captured message; return how many there were."""
        return int(self.call("DELETE", "/api/messages")["deleted"])

    def refuse(
        self,
        *,
        code: int | None = None,
        message: str | None = None,
        stage: str | None = None,
        count: int | None = None,
    ) -> dict[str, Any]:
        """Answer the SMTP ``stage`` (mail, rcpt, data) with ``code message``: the next
        ``count`` times, or until :meth:`accept`."""
        body = {"enabled": True, **_given(code=code, message=message, stage=stage, count=count)}
        return dict(self.call("POST", "/_control/refuse", json=body))

    def accept(self) -> dict[str, Any]:
        """Take mail again; the control state counts the refusals so far (refused_total)."""
        return self.clear_faults()

    def reset(self) -> None:
        self.clear_faults()
        self.delete_messages()


class MerchantClient(MockClient):
    """The mock merchant's records and faults (contracts/http/mock-merchant.openapi.yaml)."""

    def callbacks(self, **filters: Filter) -> list[dict[str, Any]]:
        """Received callback attempts, oldest first.

        Filters: ``paymentId``, ``correlation_id``, ``outcome`` (accepted, duplicate,
        rejected, failed) and ``idempotency_key``.
        """
        return list(self.call("GET", "/callbacks", params=filters)["callbacks"])

    def callback(self, record_id: int) -> dict[str, Any]:
        """One recorded attempt."""
        return dict(self.call("GET", f"/callbacks/{record_id}"))

    def summary(self, **filters: Filter) -> dict[str, Any]:
        """Outcome counts per payment, with the filters of :meth:`callbacks`."""
        return dict(self.call("GET", "/callbacks/summary", params=filters))

    def delete_callbacks(self) -> int:
        """Forget every recorded attempt and accepted idempotency key."""
        return int(self.call("DELETE", "/callbacks")["deleted"])

    def fail(self, status: int = 500, *, count: int | None = None) -> dict[str, Any]:
        """Answer callbacks with ``status``: the next ``count`` ones, or all until
        :meth:`accept`."""
        body = {"status": status, **({"mode": "always"} if count is None else {"count": count})}
        return dict(self.call("POST", "/_control/fail", json=body))

    def accept(self) -> dict[str, Any]:
        """Accept callbacks again (an injected delay stays)."""
        return dict(self.call("POST", "/_control/fail", json={"mode": "off"}))

    def delay(self, delay_ms: int) -> dict[str, Any]:
        """Delay every callback's answer by ``delay_ms`` (0 for none)."""
        return dict(self.call("POST", "/_control/latency", json={"delay_ms": delay_ms}))

    def reset(self) -> None:
        self.clear_faults()
        self.delete_callbacks()


class ProviderClient(MockClient):
    """The mock provider's control API (contracts/http/provider-control.openapi.yaml).

    Its Stripe API at ``base_url`` is the stripe SDK's to call.
    """

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule for matching ``/v1`` requests; return it with its ``id``."""
        return dict(self.call("POST", "/_control/faults", json=rule))

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, with their counters, in the order they apply."""
        return list(self.call("GET", "/_control/faults")["data"])

    def remove_fault(self, rule_id: str | None = None) -> None:
        """Remove one fault rule, or every rule (ending any hang in progress)."""
        self.call("DELETE", "/_control/faults" + (f"/{rule_id}" if rule_id else ""))

    def webhook_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the webhook faults (delay, duplicate, reorder, loss; left out is off)."""
        return dict(self.call("PUT", "/_control/webhooks", json=faults))

    def clear_webhook_faults(self) -> dict[str, Any]:
        """Turn every webhook fault off."""
        return dict(self.call("DELETE", "/_control/webhooks"))

    def webhooks(self) -> dict[str, Any]:
        """Webhook faults, endpoints (with their secrets) and the worker's counters."""
        return dict(self.call("GET", "/_control/webhooks"))

    def deliveries(self, *, limit: int = 10_000, **filters: Filter) -> list[dict[str, Any]]:
        """The most recent ``limit`` webhook deliveries, oldest first, with their attempts.

        Filters: ``status``, ``event_id``, ``event_type`` and ``endpoint_id``.
        """
        params = {**filters, "limit": limit}
        return list(self.call("GET", "/_control/webhooks/deliveries", params=params)["data"])

    def requests(self, *, limit: int = 10_000) -> list[dict[str, Any]]:
        """The most recent ``limit`` Stripe API calls answered, oldest first, each with
        the id and metadata of the object it answered with."""
        return list(self.call("GET", "/_control/requests", params={"limit": limit})["data"])

    def authenticate(self, intent_id: str, *, complete: bool = True) -> dict[str, Any]:
        """Answer the 3D Secure authentication a PaymentIntent awaits (``requires_action``),
        as the customer would: complete it (the card is charged) or fail it; return the
        intent."""
        body = {"outcome": "complete" if complete else "fail"}
        path = f"/_control/payment_intents/{intent_id}/authenticate"
        return dict(self.call("POST", path, json=body))

    def clock(self) -> dict[str, Any]:
        """The provider's time (``now``) and its offset from real time."""
        return dict(self.call("GET", "/_control/clock"))

    def set_clock(self, now: float) -> dict[str, Any]:
        """Set the provider's clock to ``now`` (Unix seconds); it keeps ticking."""
        return dict(self.call("POST", "/_control/clock", json={"now": now}))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the provider's clock by ``seconds``."""
        return dict(self.call("POST", "/_control/clock", json={"advance_s": seconds}))

    def real_time(self) -> dict[str, Any]:
        """Put the provider's clock back to real time."""
        return dict(self.call("POST", "/_control/clock", json={"reset": True}))

    def reseed(self, seed: int) -> None:
        """Reseed every fault draw."""
        self.call("POST", "/_control/seed", json={"seed": seed})

    def clear_faults(self) -> dict[str, Any]:
        self.remove_fault()
        self.clear_webhook_faults()
        return self.control()

    def reset(self, seed: int | None = None) -> None:
        """Forget every object, key, fault and delivery; real time; optionally a new seed."""
        self.call("POST", "/_control/reset", json=_given(seed=seed))
