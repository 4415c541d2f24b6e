"""Signed merchant callbacks (seed 001): the payment, POSTed to the merchant's URL.

The body is the payment event (without the customer's name and email) wrapped with its
event id, type and correlation id.  It is signed with ``sandbox.signing``
(``X-Merchant-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``) and carries the
event's id as ``Idempotency-Key``, so the merchant can drop a resend.  2xx is success;
408, 425, 429, 5xx and network errors are worth retrying; other 4xx are not.

One urllib3 pool per process carries every callback, so connections to the merchant are
kept alive and reused (up to ``POOL_CONNECTIONS``, one per consumer thread calling at the
same time; a thread beyond them opens a connection of its own instead of waiting).  The
pool reads nothing from the environment: the merchant URL is always reached directly,
never through a proxy from ``HTTP_PROXY``, and HTTPS is verified against certifi's CA
bundle.  urllib3 is what requests runs on; calling it directly spares requests' session
machinery (hooks, cookies, environment merging) on every callback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import certifi
import urllib3

from sandbox.messaging.envelope import CORRELATION_HEADER
from sandbox.signing import sign

SIGNATURE_HEADER = "X-Merchant-Signature"
RETRYABLE_4XX = (408, 425, 429)
PERSONAL_FIELDS = ("customerEmail", "customerName")
# kept connections to the merchant: enough for each consumer thread to have its own;
# a thread beyond them opens a connection of its own instead of waiting
POOL_CONNECTIONS = 10


class MerchantError(Exception):
    def __init__(self, code: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class MerchantCallbacks(Protocol):
    @property
    def recipient(self) -> str: ...

    def deliver(self, payload: bytes, *, idempotency_key: str, correlation_id: str) -> None: ...


def public_url(url: str) -> str:
    """The URL without credentials, query or fragment (safe for logs, audit and events)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def callback_payload(
    routing_key: str, body: Mapping[str, Any], *, event_id: str, correlation_id: str
) -> bytes:
    payment = {k: v for k, v in body.items() if k not in PERSONAL_FIELDS}
    document = {
        "eventId": event_id,
        "eventType": body.get("type"),
        "routingKey": routing_key,
        "correlationId": correlation_id,
        "occurredAt": body.get("timestamp"),
        "payment": payment,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def callback_pool(connections: int = POOL_CONNECTIONS) -> urllib3.PoolManager:
    """Kept connections that read nothing from the environment (see the module doc)."""
    return urllib3.PoolManager(
        maxsize=connections, block=False, retries=False, ca_certs=certifi.where()
    )


class MerchantClient:
    """POSTs signed callbacks to one merchant URL."""

    def __init__(
        self, url: str, secret: str, timeout_s: float, pool: urllib3.PoolManager | None = None
    ) -> None:
        self._url = url
        self._recipient = public_url(url)
        self._secret = secret
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._pool = pool or callback_pool()

    @property
    def recipient(self) -> str:
        return self._recipient

    def deliver(self, payload: bytes, *, idempotency_key: str, correlation_id: str) -> None:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, payload),
            "Idempotency-Key": idempotency_key,
            CORRELATION_HEADER: correlation_id,
            "User-Agent": "notifier-service",
        }
        try:
            response = self._pool.request(
                "POST",
                self._url,
                body=payload,
                headers=headers,
                timeout=self._timeout,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise MerchantError(
                "MERCHANT_UNAVAILABLE",
                f"cannot reach merchant at {self.recipient}: {type(exc).__name__}",
                permanent=False,
            ) from exc
        status = response.status
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise MerchantError(
            "MERCHANT_REJECTED" if permanent else "MERCHANT_ERROR",
            f"merchant at {self.recipient} answered HTTP {status}",
            permanent=permanent,
        )
