"""``python -m sandbox.services.<name> web|consumer|relay``: the one entrypoint of every service.

A service's ``__main__`` describes the service as a ``Service`` (its name, settings,
tables, the module of its app factory and, when it consumes events, its consumer) and
runs its ``main``; the outbox the relay publishes is the service's ``<name>_outbox``
table.  Each process reads its settings once, here, creates the service's tables, and
stops cleanly on SIGTERM:

- ``web``: the HTTP API under gunicorn on ``<P>_PORT``;
- ``consumer``: the service's queues, every message checked against its contract;
  ``GET /health`` on ``<P>_CONSUMER_HEALTH_PORT``;
- ``relay``: publishes the outbox with confirms; ``GET /health`` on
  ``<P>_RELAY_HEALTH_PORT``.

A setting that cannot be used ends the process with exit code 2 and a message naming
the variable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import Engine, MetaData, Table

from sandbox.services.common import jsonlog
from sandbox.services.common.db import create_schema, make_engine
from sandbox.services.common.runner import Handler, broker_url, run_consumer, run_relay
from sandbox.services.common.settings import ServiceSettings
from sandbox.settings import SettingsError

if TYPE_CHECKING:
    from flask import Flask

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Consumption:
    """What a service's consumer reads and what it does with each message."""

    queues: list[str]
    handle: Handler


@dataclass(frozen=True)
class Service(Generic[S]):
    """Everything the shared entrypoint needs to know about one service."""

    name: str  # "payment-service": its logs, health, process title and publisher
    settings: type[S]  # read from the environment once per process
    metadata: MetaData  # the service's tables
    # the module whose ``create_app(settings)`` makes the web app: only the web process
    # imports it, so the relay and the consumer start without Flask and the API behind it
    app: str
    # None: the service consumes no events
    consumer: Callable[[S, Engine], Consumption] | None = None

    @property
    def package(self) -> str:
        return self.name.removesuffix("-service")

    @property
    def outbox(self) -> Table:
        return self.metadata.tables[f"{self.package}_outbox"]

    def main(self, argv: Sequence[str] | None = None) -> int:
        return main(self, argv)


def _web(service: Service[S], settings: S) -> None:
    from sandbox.services.common.serve import serve

    create_app: Callable[[S], Flask] = import_module(service.app).create_app

    engine = make_engine(settings.database_url)
    create_schema(engine, service.metadata)  # once, before the fork
    engine.dispose()  # no pooled connection may be inherited by the forked workers
    serve(
        lambda: create_app(settings),
        host=settings.host,
        port=settings.port,
        replica_port=settings.replica_port,
        workers=settings.workers,
        threads=settings.threads,
        name=service.name,
        timeout_s=settings.request_timeout_s,
    )


def _consumer(service: Service[S], settings: S) -> None:
    assert service.consumer is not None
    broker_url(settings.broker)  # refuse to start without a broker, before any I/O
    engine = make_engine(settings.database_url)
    create_schema(engine, service.metadata)
    consumption = service.consumer(settings, engine)
    run_consumer(
        service=service.name,
        engine=engine,
        queues=consumption.queues,
        handle=consumption.handle,
        settings=settings,
    )


def _relay(service: Service[S], settings: S) -> None:
    broker_url(settings.broker)  # refuse to start without a broker, before any I/O
    engine = make_engine(settings.database_url)
    create_schema(engine, service.metadata)
    run_relay(service=service.name, engine=engine, outbox=service.outbox, settings=settings)


def main(service: Service[S], argv: Sequence[str] | None = None) -> int:
    """Run the process named on the command line; 2 when a setting cannot be used."""
    processes: dict[str, Callable[[Service[S], S], None]] = {"web": _web, "relay": _relay}
    if service.consumer is not None:
        processes["consumer"] = _consumer
    parser = argparse.ArgumentParser(
        prog=f"python -m sandbox.services.{service.package}",
        description=f"Run one process of the {service.package} service "
        "(settings from the environment).",
    )
    parser.add_argument("process", choices=sorted(processes))
    args = parser.parse_args(argv)
    try:
        settings = service.settings.from_env()
        jsonlog.configure(service.name, settings.log_level)
        processes[args.process](service, settings)
    except SettingsError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return 0
