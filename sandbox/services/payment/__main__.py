"""Entrypoints of the payment service, each its own process.

    python -m sandbox.services.payment web     # the HTTP API under gunicorn (port 8003)
    python -m sandbox.services.payment relay   # the outbox relay (health on port 8013)

Settings come from the environment (``PaymentSettings.from_env``); the options below
override the listening address.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

from flask import Flask

from sandbox.services.common import jsonlog
from sandbox.services.common.db import make_engine
from sandbox.services.common.serve import serve
from sandbox.services.payment.settings import (
    RELAY_NAME,
    SERVICE_NAME,
    PaymentSettings,
    SettingsError,
)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.services.payment")
    commands = parser.add_subparsers(dest="command", required=True)
    web = commands.add_parser("web", help="serve the HTTP API with gunicorn")
    web.add_argument("--host", help="interface (PAYMENT_HOST)")
    web.add_argument("--port", type=int, help="port (PAYMENT_PORT)")
    web.add_argument("--workers", type=int, help="gunicorn workers (PAYMENT_WORKERS)")
    web.add_argument("--threads", type=int, help="threads per worker (PAYMENT_THREADS)")
    relay = commands.add_parser("relay", help="publish the outbox to the broker")
    relay.add_argument("--health-host", help="interface of GET /health (PAYMENT_RELAY_HOST)")
    relay.add_argument("--health-port", type=int, help="port of GET /health (PAYMENT_RELAY_PORT)")
    return parser.parse_args(argv)


def _web(settings: PaymentSettings) -> int:
    from sandbox.services.payment.api import create_app
    from sandbox.services.payment.storage import create_schema

    # Create the tables once before forking, so workers do not race for it.
    engine = make_engine(settings.database())
    create_schema(engine)
    engine.dispose()

    def factory() -> Flask:
        return create_app(settings)

    serve(
        factory,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        threads=settings.threads,
        name=SERVICE_NAME,
        timeout_s=max(30, int(settings.provider_timeout_s * 3)),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        settings = PaymentSettings.from_env()
    except SettingsError as exc:
        print(f"payment service: {exc}", file=sys.stderr)
        return 2
    if args.command == "web":
        overrides = {
            k: v
            for k, v in (
                ("host", args.host),
                ("port", args.port),
                ("workers", args.workers),
                ("threads", args.threads),
            )
            if v is not None
        }
        settings = replace(settings, **overrides)
        jsonlog.configure(SERVICE_NAME, settings.log_level)
        return _web(settings)
    overrides = {
        k: v
        for k, v in (("relay_host", args.health_host), ("relay_port", args.health_port))
        if v is not None
    }
    settings = replace(settings, **overrides)
    jsonlog.configure(RELAY_NAME, settings.log_level)
    from sandbox.services.payment.relay import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
