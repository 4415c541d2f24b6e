"""Serve the merchant app from a thread of this process: for tests (its process uses gunicorn)."""

from __future__ import annotations

from typing import Self

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
