"""``python -m sandbox.services.appointment web|consumer|relay`` (``common.main``).

- ``web``: the HTTP API under gunicorn on ``APPOINTMENT_PORT`` (default 8002);
- ``consumer``: consumes ``payment_events`` with seed 000's rules; ``GET /health`` on
  ``APPOINTMENT_CONSUMER_HEALTH_PORT`` (default 8012);
- ``relay``: publishes ``appointment.*`` from the outbox; ``GET /health`` on
  ``APPOINTMENT_RELAY_HEALTH_PORT`` (default 8022).
"""

from __future__ import annotations

import sys

from sqlalchemy import Engine

from sandbox.services.appointment import storage
from sandbox.services.appointment.handlers import handle_payment_event
from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common import main as common
from sandbox.topology import APPOINTMENT_SERVICE


def consumer(settings: AppointmentSettings, engine: Engine) -> common.Consumption:
    store = AppointmentStore(engine)
    return common.Consumption(
        [settings.broker.payment_queue],
        lambda message: handle_payment_event(message, store.unit_of_work),
    )


SERVICE = common.Service(
    APPOINTMENT_SERVICE,
    AppointmentSettings,
    storage.metadata,
    "sandbox.services.appointment.api",
    consumer,
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
