"""Command line: ``python -m mocks.provider --host H --port N [--threads T] [--seed S]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mocks.common.main import run
from mocks.provider.server import ProviderServer
from mocks.provider.settings import ProviderSettings


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
