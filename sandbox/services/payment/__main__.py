"""``python -m sandbox.services.payment web|relay`` (``common.main``).

- ``web``: the HTTP API under gunicorn on ``PAYMENT_PORT`` (default 8003);
- ``relay``: publishes ``payment.*`` from the outbox; ``GET /health`` on
  ``PAYMENT_RELAY_HEALTH_PORT`` (default 8013).

The payment service consumes no events: the provider tells it what happened through
its webhooks, which the web process answers.
"""

from __future__ import annotations

import sys

from sandbox.services.common import main as common
from sandbox.services.payment import tables
from sandbox.services.payment.settings import SERVICE_NAME, PaymentSettings

SERVICE = common.Service(
    SERVICE_NAME, PaymentSettings, tables.metadata, "sandbox.services.payment.api"
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
