"""Entrypoint plumbing shared by the services' consumer and relay processes.

- ``open_engine``: the service's engine, creating the SQLite directory first.
- ``stop_on_signals``: SIGTERM/SIGINT call the process's ``stop()``, so the sandbox's
  graceful stop lets a handler finish and settle its message before the exit.
- ``run_consumer``: a consumer in the main thread with its ``/health`` port.
- ``run_relay``: the whole relay process (outbox -> broker with confirms) for any service,
  with its ``/health`` port; the services differ only in their engine and outbox table.
  Parked outbox rows make its health ``degraded`` (503) while it stays ready.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, Table

from sandbox.messaging import (
    BrokerConnectError,
    Consumer,
    IncomingMessage,
    Publisher,
    PublishError,
    ensure_topology,
)
from sandbox.messaging.connection import RECOVERABLE_ERRORS
from sandbox.services.common import jsonlog
from sandbox.services.common.db import make_engine, normalise_url
from sandbox.services.common.doorbell import Doorbell, doorbell_address
from sandbox.services.common.health import HealthServer, check_database, overall
from sandbox.services.common.outbox import OutboxRelay
from sandbox.settings import BrokerSettings, SettingsError
from sandbox.topology import Topology, build

log = logging.getLogger(__name__)

_BROKER_DOWN: tuple[type[BaseException], ...] = (BrokerConnectError, *RECOVERABLE_ERRORS)


def open_engine(url: str) -> Engine:
    """``make_engine(url)``; for SQLite, create the database's directory first."""
    url = normalise_url(url)
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
    return make_engine(url)


def broker_url(broker: BrokerSettings) -> str:
    """The broker URL a service process must have (the sandbox always sets it)."""
    if not broker.url:
        raise SettingsError("RABBITMQ_URL", "", "the broker's AMQP URL (the sandbox sets it)")
    return broker.url


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop()`` on SIGTERM or SIGINT (main thread only)."""

    def _handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def declare_when_reachable(url: str, topology: Topology, stopping: threading.Event) -> bool:
    """Declare the topology, retrying with capped backoff until it works or we stop."""
    delay = 0.1
    while not stopping.is_set():
        try:
            ensure_topology(url, topology)
            return True
        except _BROKER_DOWN as exc:
            log.warning("broker not reachable (%r); retrying in %.1f s", exc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, 5.0)
    return False


def run_relay(
    *,
    service: str,
    engine: Engine,
    outbox: Table,
    broker: BrokerSettings,
    health_host: str,
    health_port: int,
) -> None:
    """Relay ``outbox`` to the events exchange until SIGTERM; serve ``/health`` meanwhile."""
    url = broker_url(broker)
    topology = build(broker)
    stopping = threading.Event()
    publisher = Publisher(
        url,
        topology.exchange.name,
        heartbeat=broker.heartbeat_s,
        reconnect_max_s=broker.reconnect_max_s,
        name=f"{service}-relay",
    )
    # the service's writers ring this doorbell after committing events (OUTBOX_DOORBELL)
    address = doorbell_address()
    doorbell = Doorbell(*address) if address else None
    relay = OutboxRelay(
        engine, outbox, publisher, max_refusals=broker.outbox_max_refusals, doorbell=doorbell
    )

    def report() -> dict[str, Any]:
        checks = {
            "broker": {"ok": publisher.connected},
            "database": check_database(engine),
        }
        ready = overall(checks) == "ok"
        outbox_state: dict[str, Any] = {"published": relay.stats.published}
        if checks["database"]["ok"]:
            outbox_state["pending"] = relay.pending()
            parked = relay.parked()
            outbox_state["parked"] = parked.count
            checks["outbox"] = {"ok": not parked.count, "parked": parked.to_dict()}
        return {
            "status": overall(checks),
            "ready": ready,
            "service": service,
            "process": "relay",
            "checks": checks,
            "outbox": outbox_state,
        }

    def stop() -> None:
        stopping.set()
        relay.stop()

    health = HealthServer(health_host, health_port, report).start()
    stop_on_signals(stop)
    log.info("%s relay: health at %s", service, health.url)
    try:
        if not declare_when_reachable(url, topology, stopping):
            return
        try:
            publisher.start(wait_s=5.0)
        except PublishError as exc:
            log.warning("relay publisher not connected yet (%s); it keeps trying", exc)
        relay.run()
    finally:
        publisher.close()
        health.stop()
        if doorbell is not None:
            doorbell.close()


def run_consumer(
    *,
    service: str,
    consumer: Consumer,
    engine: Engine,
    queues: list[str],
    health_host: str,
    health_port: int,
) -> None:
    """Run ``consumer`` in this (main) thread until SIGTERM; serve ``/health`` meanwhile."""

    def report() -> dict[str, Any]:
        checks = {
            "broker": {"ok": consumer.connected},
            "database": check_database(engine),
        }
        stats = consumer.stats
        return {
            "status": overall(checks),
            "service": service,
            "process": "consumer",
            "checks": checks,
            "consumer": {
                "queues": queues,
                "delivered": stats.delivered,
                "acked": stats.acked,
                "retried": stats.retried,
                "dead_lettered": stats.dead_lettered,
                "reconnects": stats.reconnects,
            },
        }

    health = HealthServer(health_host, health_port, report).start()
    stop_on_signals(consumer.stop)
    log.info("%s consumer: health at %s", service, health.url)
    try:
        consumer.run()
    finally:
        health.stop()


def consume(
    *,
    service: str,
    url: str,
    broker: BrokerSettings,
    queues: list[str],
    handle: Callable[[IncomingMessage], object],
    engine: Engine,
    health_host: str,
    health_port: int,
) -> None:
    """Run a service's consumer: every message checked against its contract first."""
    from sandbox.contracts import ContractRegistry

    def traced(message: IncomingMessage) -> None:
        jsonlog.correlation_id.set(message.correlation_id)
        handle(message)

    run_consumer(
        service=service,
        consumer=Consumer(
            url,
            build(broker),
            queues,
            traced,
            service=service,
            validator=ContractRegistry.load().validate_delivered,
            prefetch=broker.prefetch,
            heartbeat=broker.heartbeat_s,
            reconnect_max_s=broker.reconnect_max_s,
        ),
        engine=engine,
        queues=queues,
        health_host=health_host,
        health_port=health_port,
    )


def service_main(
    service: str,
    commands: Mapping[str, Callable[[Any], None]],
    load_settings: Callable[[], Any],
    argv: Sequence[str] | None = None,
) -> int:
    """``python -m sandbox.services.<name> PROCESS``: settings read once, exit 2 if bad."""
    package = service.removesuffix("-service")
    parser = argparse.ArgumentParser(
        prog=f"python -m sandbox.services.{package}",
        description=f"Run one process of the {package} service (settings from the environment).",
    )
    parser.add_argument("process", choices=sorted(commands))
    args = parser.parse_args(argv)
    jsonlog.configure(service)
    try:
        commands[args.process](load_settings())
    except SettingsError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return 0
