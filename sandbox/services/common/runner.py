"""The worker processes every service runs the same way: its consumer and its outbox relay.

- ``stop_on_signals``: SIGTERM/SIGINT call the process's ``stop()``, so the sandbox's
  graceful stop lets the running handlers finish and settle their messages first.
- ``run_consumer``: a consumer in the main thread, every message checked against its
  contract first, its handlers in ``<P>_CONSUMER_CONCURRENCY`` lanes, with its
  ``/health`` port.
- ``run_relay``: the outbox relay (outbox -> broker with confirms) with its ``/health``
  port; the services differ only in their engine, outbox table and settings.  Parked
  outbox rows make its health ``degraded`` (503) while it stays ready.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, Table

from sandbox import health
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
from sandbox.services.common.doorbell import Doorbell, own_doorbell
from sandbox.services.common.health import HealthServer, check_database
from sandbox.services.common.outbox import OutboxRelay
from sandbox.services.common.settings import ServiceSettings
from sandbox.settings import START_GATE_VARIABLE, BrokerSettings, SettingsError
from sandbox.topology import Topology, build

log = logging.getLogger(__name__)

_BROKER_DOWN: tuple[type[BaseException], ...] = (BrokerConnectError, *RECOVERABLE_ERRORS)

Handler = Callable[[IncomingMessage], object]


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


def await_start_gate(
    stopping: threading.Event, environ: Mapping[str, str] = os.environ, interval_s: float = 0.02
) -> None:
    """When a booting sandbox started this worker (``SANDBOX_START_GATE``), wait until
    its supervisor has declared the topology (the file the variable names exists).

    The worker loads and opens its database while the broker boots and connects once
    there is a broker with queues, instead of backing off against a node not yet up. A
    stop ends the wait; so does the supervisor's exit (the worker is then reparented
    and connects on its own, as when started alone).
    """
    path = environ.get(START_GATE_VARIABLE)
    if not path:
        return
    gate, parent, began = Path(path), os.getppid(), time.monotonic()
    while not gate.exists():
        if os.getppid() != parent:
            log.warning("the process that started this one exited; not waiting for %s", gate)
            return
        if stopping.wait(interval_s):
            return
    log.info("start gate open after %.1f s", time.monotonic() - began)


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


def run_relay(*, service: str, engine: Engine, outbox: Table, settings: ServiceSettings) -> None:
    """Relay ``outbox`` to the events exchange until SIGTERM; serve ``/health`` meanwhile."""
    broker = settings.broker
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
    address = own_doorbell(settings.relay_health_port)
    doorbell = Doorbell(*address) if address else None
    relay = OutboxRelay(
        engine,
        outbox,
        publisher,
        batch_size=settings.relay_batch_size,
        poll_interval_s=settings.relay_poll_interval_s,
        confirm_timeout_s=settings.relay_confirm_timeout_s,
        hold_marks_s=settings.relay_hold_marks_s,
        max_refusals=broker.outbox_max_refusals,
        doorbell=doorbell,
        name=settings.relay_name or f"{service}-relay",
    )

    def report() -> dict[str, Any]:
        checks: dict[str, dict[str, Any]] = {
            "broker": {"ok": publisher.connected},
            "database": check_database(engine),
        }
        stats = relay.stats
        outbox_state: dict[str, Any] = {
            "published": stats.published,
            "failed_batches": stats.failed_batches,
            "passes": stats.passes,
        }
        if checks["database"]["ok"]:
            parked = relay.parked()
            outbox_state.update(pending=relay.pending(), parked=parked.count)
            # parked rows need a person, not a restart: unhealthy, yet ready
            checks["outbox"] = {"ok": not parked.count, "parked": parked.to_dict()}
        return health.report(service, "relay", checks, advisory=("outbox",), outbox=outbox_state)

    def stop() -> None:
        stopping.set()
        relay.stop()

    server = HealthServer(
        settings.host, settings.relay_health_port, report, service=service, process="relay"
    ).start()
    stop_on_signals(stop)
    log.info("%s relay: health at %s", service, server.url)
    try:
        await_start_gate(stopping)
        if not declare_when_reachable(url, topology, stopping):
            return
        try:
            publisher.start(wait_s=5.0)
        except PublishError as exc:
            log.warning("relay publisher not connected yet (%s); it keeps trying", exc)
        relay.run()
    finally:
        publisher.close()
        server.stop()
        engine.dispose()
        if doorbell is not None:
            doorbell.close()
    log.info("%s relay stopped", service, extra={"fields": {"published": relay.stats.published}})


def run_consumer(
    *,
    service: str,
    engine: Engine,
    queues: list[str],
    handle: Handler,
    settings: ServiceSettings,
) -> None:
    """Consume ``queues`` in this (main) thread until SIGTERM; serve ``/health`` meanwhile.

    Every message is checked against its contract before ``handle`` sees it.
    """
    from sandbox.contracts import ContractRegistry

    broker = settings.broker

    def traced(message: IncomingMessage) -> None:
        jsonlog.correlation_id.set(message.correlation_id)
        handle(message)

    consumer = Consumer(
        broker_url(broker),
        build(broker),
        queues,
        traced,
        service=service,
        validator=ContractRegistry.load().validate_delivered,
        prefetch=broker.prefetch,
        concurrency=settings.consumer_concurrency,
        heartbeat=broker.heartbeat_s,
        reconnect_max_s=broker.reconnect_max_s,
    )

    def report() -> dict[str, Any]:
        checks = {"broker": {"ok": consumer.connected}, "database": check_database(engine)}
        stats = consumer.stats
        counts = {
            "queues": queues,
            "concurrency": consumer.concurrency,
            "delivered": stats.delivered,
            "acked": stats.acked,
            "retried": stats.retried,
            "dead_lettered": stats.dead_lettered,
            "reconnects": stats.reconnects,
        }
        return health.report(service, "consumer", checks, consumer=counts)

    stopping = threading.Event()

    def stop() -> None:
        stopping.set()
        consumer.stop()

    server = HealthServer(
        settings.host, settings.consumer_health_port, report, service=service, process="consumer"
    ).start()
    stop_on_signals(stop)
    log.info("%s consumer: health at %s", service, server.url)
    try:
        await_start_gate(stopping)
        if stopping.is_set():
            return
        consumer.run()
    finally:
        server.stop()
