"""Serve the merchant app: from a thread of a test's process, or with gunicorn as its own.

Both build the same app (``mocks.merchant.api``) around a store and fault policy.
"""

from __future__ import annotations

from typing import Any, Self

from flask import Flask

from mocks.common.errors import http_error_body
from mocks.common.main import print_ready
from mocks.common.process import GunicornMock
from mocks.common.server import Served
from mocks.merchant.api import create_app
from mocks.merchant.faults import FaultPolicy
from mocks.merchant.settings import MerchantMockSettings
from mocks.merchant.store import CallbackStore


class MockMerchantServer(Served):
    """The merchant endpoint on its own thread; a context manager that starts and stops it."""

    def __init__(self, settings: MerchantMockSettings) -> None:
        self.settings = settings
        self.store = CallbackStore(settings.max_records)
        self.faults = FaultPolicy()
        self.port = 0

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://{self.settings.host}:{self.port}"

    @property
    def callback_url(self) -> str:
        """Return the URL the notifier should post callbacks to."""
        return self.settings.callback_url(self.port)

    def start(self) -> Self:
        """Bind the port and start serving."""
        app = create_app(self.settings, self.store, self.faults)
        self.port = self.serve_http(
            app, self.settings.host, self.settings.port, "mock-merchant-http"
        )
        return self


class MerchantProcess(GunicornMock):
    """The merchant app in gunicorn's worker; the ready line once the port is bound."""

    def __init__(self, settings: MerchantMockSettings) -> None:
        self.settings = settings
        super().__init__(
            settings.host, settings.port, threads=settings.threads, refusal=http_error_body
        )

    def load(self) -> Flask:
        return create_app(self.settings)

    def ready(self, port: int) -> None:
        settings = self.settings
        line: dict[str, Any] = {
            "service": "mock-merchant",
            "port": port,
            "url": f"http://{settings.host}:{port}",
            "callback_url": settings.callback_url(port),
        }
        if settings.secret_generated:
            line["secret"] = settings.secret
        print_ready(line)
