"""Serve the provider with gunicorn (``mocks.common.process``) in its own process.

Its webhook thread starts in the worker with the app; gunicorn's own refusals (malformed
request, request line or headers too long) are answered in Stripe's error format like
every other refusal.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from mocks.common.process import GunicornMock
from mocks.provider.app import create_app
from mocks.provider.errors import StripeError
from mocks.provider.runtime import Provider
from mocks.provider.settings import ProviderSettings


def _refusal_body(status: int, message: str) -> dict[str, Any]:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    return StripeError(status, message, type=kind).body()


class ProviderServer(GunicornMock):
    """The provider's gunicorn application, configured by ProviderSettings."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.provider: Provider | None = None
        super().__init__(
            settings.host,
            settings.port,
            threads=settings.threads,
            refusal=_refusal_body,
            graceful_timeout_s=settings.graceful_timeout_s,
            access_log=settings.access_log,
        )

    def load(self) -> Flask:
        self.provider = Provider(self.settings)
        app = create_app(self.settings, self.provider)
        self.provider.start()
        return app

    def worker_exit(self) -> None:
        if self.provider is not None:
            self.provider.stop()
