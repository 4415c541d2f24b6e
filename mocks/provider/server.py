"""Serve the provider with gunicorn: one gthread worker, because all state is in memory.

The app (and its webhook thread) is built in ``load()``, which gunicorn calls inside the
worker process after forking, so the thread lives in the process that serves requests.
gunicorn's own refusals (malformed request, request line or headers too long) are
answered in Stripe's error format like every other refusal.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from mocks.common.main import run
from mocks.provider.app import create_app
from mocks.provider.errors import StripeError
from mocks.provider.runtime import Provider
from mocks.provider.settings import ProviderSettings
from sandbox.http_refusals import gunicorn_worker


def _refusal_body(status: int, message: str) -> dict[str, Any]:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    return StripeError(status, message, type=kind).body()


class ProviderServer(BaseApplication):
    """A gunicorn application whose configuration comes from ProviderSettings."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.provider: Provider | None = None
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "bind": f"{s.host}:{s.port}",
            # state is in memory: more than one worker would split it
            "workers": 1,
            "worker_class": gunicorn_worker(_refusal_body),
            "threads": s.threads,
            # an injected hang holds a thread, not the worker's heartbeat: no kill
            "timeout": 120,
            "graceful_timeout": max(1, math.ceil(s.graceful_timeout_s)),
            "keepalive": 75,  # outlive the clients' idle connections (see services' serve)
            "accesslog": "-" if s.access_log else None,
            "errorlog": "-",
            "loglevel": "info",
            "worker_exit": self._worker_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        self.provider = Provider(self.settings)
        app = create_app(self.settings, self.provider)
        self.provider.start()
        return app

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if self.provider is not None:
            self.provider.stop()


def parser() -> argparse.ArgumentParser:
    """The options; each overrides its PROVIDER_* variable."""
    parser = argparse.ArgumentParser(
        prog="python -m mocks.provider",
        description="Stateful Stripe-compatible mock payment provider.",
    )
    parser.add_argument("--host", help="interface to bind (PROVIDER_HOST)")
    parser.add_argument("--port", type=int, help="port to bind (PROVIDER_PORT)")
    parser.add_argument("--threads", type=int, help="request threads (PROVIDER_THREADS)")
    parser.add_argument("--seed", type=int, help="seed for fault injection (PROVIDER_SEED)")
    return parser


def serve(settings: ProviderSettings) -> int:
    """Serve with gunicorn until SIGTERM or SIGINT."""
    ProviderServer(settings).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mock provider until SIGTERM or SIGINT."""
    return run("mock-provider", parser(), argv, "PROVIDER_", ProviderSettings.from_env, serve)
