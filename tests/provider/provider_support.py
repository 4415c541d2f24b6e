"""Test support for the mock provider: a served app, a webhook receiver, polling.

Everything here talks real HTTP on 127.0.0.1 with ports chosen by the OS, and waits by
polling with a deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import stripe
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from mocks.clients import ProviderClient
from mocks.common.server import WsgiThread
from mocks.provider import Provider, ProviderSettings, create_app
from sandbox.waiting import WaitTimeout, wait_for
from tests.service_support import free_port

API_KEY = "sk_test_mockprovider_0123456789"
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    seen: Callable[[], Any],
    timeout: float = 10.0,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming what was awaited."""
    try:
        return wait_for(condition, timeout=timeout, what=what, interval=0.01, seen=seen)
    except WaitTimeout as exc:
        pytest.fail(str(exc))


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log line."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextlib.contextmanager
def serve(wsgi_app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free port in a thread; yield its base URL."""
    server = WsgiThread(wsgi_app, "127.0.0.1", 0, "test-server", handler=QuietHandler)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@dataclass
class RunningProvider:
    """A provider served over HTTP, with its control API a method call away."""

    base_url: str
    provider: Provider
    http: requests.Session

    @property
    def client(self) -> ProviderClient:
        return ProviderClient(self.base_url, session=self.http)

    def control(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """Call the control API and return its JSON; a non-2xx answer raises MockError."""
        return self.client.call(method, f"/_control{path}", json=body, **kwargs)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the Stripe API with raw HTTP (for what the SDK would never send)."""
        headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"{self.base_url}{path}", headers=headers, timeout=10, **kwargs
        )

    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        return self.client.deliveries(**filters)

    def stripe_client(self, timeout: float = 10.0) -> stripe.StripeClient:
        return stripe.StripeClient(
            API_KEY,
            base_addresses={"api": self.base_url},
            http_client=stripe.RequestsClient(timeout=timeout, session=self.http),
            max_network_retries=0,
        )


def fast_settings(**overrides: Any) -> ProviderSettings:
    """Settings that make webhook retries take milliseconds instead of seconds."""
    values: dict[str, Any] = {
        "webhook_retry_base_s": 0.05,
        "webhook_retry_max_s": 0.2,
        "webhook_max_attempts": 5,
        "webhook_timeout_s": 2.0,
        "seed": 7,
    }
    values.update(overrides)
    return ProviderSettings(**values)


@contextlib.contextmanager
def running_provider(settings: ProviderSettings) -> Iterator[RunningProvider]:
    provider = Provider(settings)
    app = create_app(settings, provider)
    provider.start()
    try:
        with serve(app) as base_url, requests.Session() as http:
            yield RunningProvider(base_url, provider, http)
    finally:
        provider.stop()


@dataclass
class Received:
    """One webhook request as the receiver saw it."""

    body: bytes
    signature: str | None
    status: int
    event: Any = None
    error: str | None = None

    @property
    def event_id(self) -> str:
        return str(json.loads(self.body)["id"])

    @property
    def event_type(self) -> str:
        return str(json.loads(self.body)["type"])


@dataclass
class WebhookReceiver:
    """A merchant-side webhook endpoint that verifies signatures with the stripe SDK."""

    secret: str = ""
    url: str = ""
    fail_next: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        signature = request.headers.get("Stripe-Signature")
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.received.append(Received(body, signature, 500, error="told to fail"))
                return Response("failing on purpose", 500)(environ, start_response)
            try:
                event = stripe.Webhook.construct_event(body, signature, self.secret)
            except (stripe.SignatureVerificationError, ValueError) as exc:
                self.received.append(Received(body, signature, 400, error=str(exc)))
                return Response(str(exc), 400)(environ, start_response)
            self.received.append(Received(body, signature, 200, event=event))
        return Response("ok", 200)(environ, start_response)

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200]

    def accepted_types(self) -> list[str]:
        return [r.event_type for r in self.accepted()]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for_types(self, types: list[str], timeout: float = 10.0) -> list[Received]:
        """Wait until every type in ``types`` has been accepted at least once."""

        def done() -> list[Received] | None:
            got = self.accepted()
            seen = {r.event_type for r in got}
            return got if all(t in seen for t in types) else None

        return wait_until(done, f"webhooks {types}", self.summary, timeout)

    def summary(self) -> list[tuple[str, int, str | None]]:
        return [(r.event_type, r.status, r.error) for r in self.all()]


@contextlib.contextmanager
def provider_process(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``python -m mocks.provider`` on a free port until it is healthy; yield its URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mocks.provider", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                lambda: process.poll() is not None or _healthy(base_url),
                f"the provider process on port {port} to answer /health",
                lambda: log_path.read_text(errors="replace")[-2000:],
                timeout=30,
            )
            assert process.poll() is None, log_path.read_text(errors="replace")
            yield base_url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
