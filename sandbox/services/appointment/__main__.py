"""Entrypoints: ``python -m sandbox.services.appointment web|consumer|relay``.

- ``web``: the HTTP API under gunicorn on ``APPOINTMENT_PORT`` (default 8002).
- ``consumer``: consumes ``payment_events`` with seed 000's rules; ``GET /health`` on
  ``APPOINTMENT_CONSUMER_HEALTH_PORT`` (default 8012).
- ``relay``: publishes the outbox; ``GET /health`` on ``APPOINTMENT_RELAY_HEALTH_PORT``
  (default 8022).

Each reads its settings from the environment once, here, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sandbox.services.appointment import storage
from sandbox.services.appointment.api import create_app
from sandbox.services.appointment.handlers import handle_payment_event
from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common.runner import (
    broker_url,
    consume,
    open_engine,
    run_relay,
    service_main,
)
from sandbox.services.common.serve import serve
from sandbox.topology import APPOINTMENT_SERVICE


def web(settings: AppointmentSettings) -> None:
    engine = open_engine(settings.database_url)
    storage.create_schema(engine)  # once, before the fork; workers build their own engine
    engine.dispose()  # no pooled connection may be inherited by the forked workers
    serve(
        lambda: create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        threads=settings.threads,
        name=APPOINTMENT_SERVICE,
    )


def consumer(settings: AppointmentSettings) -> None:
    url = broker_url(settings.broker)  # refuse to start without a broker, before any I/O
    engine = open_engine(settings.database_url)
    storage.create_schema(engine)
    store = AppointmentStore(engine)
    broker = settings.broker
    consume(
        service=APPOINTMENT_SERVICE,
        url=url,
        broker=broker,
        queues=[broker.payment_queue],
        handle=lambda message: handle_payment_event(message, store.unit_of_work),
        engine=engine,
        health_host=settings.host,
        health_port=settings.consumer_health_port,
    )


def relay(settings: AppointmentSettings) -> None:
    broker_url(settings.broker)  # refuse to start without a broker, before any I/O
    engine = open_engine(settings.database_url)
    storage.create_schema(engine)
    run_relay(
        service=APPOINTMENT_SERVICE,
        engine=engine,
        outbox=storage.outbox_rows,
        broker=settings.broker,
        health_host=settings.host,
        health_port=settings.relay_health_port,
    )


COMMANDS = {"web": web, "consumer": consumer, "relay": relay}


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(APPOINTMENT_SERVICE, COMMANDS, AppointmentSettings.from_env, argv)


if __name__ == "__main__":
    sys.exit(main())
