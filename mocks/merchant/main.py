"""Command line: ``python -m mocks.merchant --host H --port N [--path P] [--tolerance S]``.

The process serves with gunicorn (``mocks.common.process``): keep-alive connections,
one worker since the records are in memory.  The HMAC secret comes from
``MOCK_MERCHANT_SECRET`` only, never an option: a command line is readable by every
local user (``ps``, ``/proc/<pid>/cmdline``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from flask import Flask

from mocks.common.errors import http_error_body
from mocks.common.main import print_ready, run
from mocks.common.process import GunicornMock
from mocks.merchant.api import create_app
from mocks.merchant.settings import ENV_PREFIX, MerchantMockSettings


def parser() -> argparse.ArgumentParser:
    """The options; each overrides its MOCK_MERCHANT_* variable."""
    parser = argparse.ArgumentParser(
        prog="python -m mocks.merchant",
        description=__doc__,
        epilog="The shared HMAC secret: MOCK_MERCHANT_SECRET (generated and printed when unset).",
    )
    parser.add_argument("--host", help="address to bind (MOCK_MERCHANT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port, 0 for any (MOCK_MERCHANT_PORT, 8010)")
    parser.add_argument("--path", dest="callback_path", help="callback path (default /callbacks)")
    parser.add_argument("--tolerance", dest="tolerance_s", type=int, help="timestamp tolerance s")
    return parser


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


def serve(settings: MerchantMockSettings) -> int:
    """Serve until SIGTERM or SIGINT; print one JSON 'ready' line with the bound port."""
    MerchantProcess(settings).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mock merchant until SIGTERM or SIGINT."""
    return run("mock-merchant", parser(), argv, ENV_PREFIX, MerchantMockSettings.from_env, serve)
