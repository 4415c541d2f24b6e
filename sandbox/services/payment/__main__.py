"""``python -m sandbox.services.payment web|relay`` (``common.main``).

- ``web``: the HTTP API under gunicorn on ``PAYMENT_PORT`` (default 8003);
- ``relay``: publishes ``payment.*`` from the outbox; ``GET /health`` on
  ``PAYMENT_RELAY_HEALTH_PORT`` (default 8013).

The payment service consumes no events: the provider tells it what happened through
its webhooks, which the web process answers.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sandbox.services.common import main as common
from sandbox.services.payment import tables
from sandbox.services.payment.settings import SERVICE_NAME, PaymentSettings

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: PaymentSettings) -> Flask:
    """The web process's app; imported here, so that the relay and the consumer, which
    serve no API, start without loading Flask and the handlers behind it."""
    from sandbox.services.payment.api import create_app as app

    return app(settings)


SERVICE = common.Service(SERVICE_NAME, PaymentSettings, tables.metadata, create_app)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
