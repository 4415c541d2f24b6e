"""Entrypoints: ``python -m sandbox.services.appointment web|consumer|relay``.

- ``web``: the HTTP API under gunicorn on ``APPOINTMENT_PORT`` (default 8002).
- ``consumer``: consumes ``payment_events`` with seed 000's rules; ``GET /health`` on
  ``APPOINTMENT_CONSUMER_HEALTH_PORT`` (default 8012).
- ``relay``: publishes the outbox; ``GET /health`` on ``APPOINTMENT_RELAY_HEALTH_PORT``
  (default 8022).

Each reads its settings from the environment once, here, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sandbox.contracts import ContractRegistry
from sandbox.messaging import Consumer, IncomingMessage
from sandbox.services.appointment import storage
from sandbox.services.appointment.api import create_app
from sandbox.services.appointment.handlers import handle_payment_event
from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.services.appointment.storage import AppointmentStore
from sandbox.services.common import jsonlog
from sandbox.services.common.runner import broker_url, open_engine, run_consumer, run_relay
from sandbox.services.common.serve import serve
from sandbox.settings import SettingsError
from sandbox.topology import APPOINTMENT_SERVICE, build


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
    validator = ContractRegistry.load().validate_message

    def handle(message: IncomingMessage) -> None:
        jsonlog.correlation_id.set(message.correlation_id)
        handle_payment_event(message, store.unit_of_work)

    queues = [broker.payment_queue]
    run_consumer(
        service=APPOINTMENT_SERVICE,
        consumer=Consumer(
            url,
            build(broker),
            queues,
            handle,
            service=APPOINTMENT_SERVICE,
            validator=validator,
            prefetch=broker.prefetch,
            heartbeat=broker.heartbeat_s,
            reconnect_max_s=broker.reconnect_max_s,
        ),
        engine=engine,
        queues=queues,
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
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.services.appointment",
        description="Run one process of the appointment service (settings from the environment).",
    )
    parser.add_argument("process", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    jsonlog.configure(APPOINTMENT_SERVICE)
    try:
        COMMANDS[args.process](AppointmentSettings.from_env())
    except SettingsError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
