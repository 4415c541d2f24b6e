"""The payment service's outbox relay process: publishes ``payment_outbox`` to the broker.

One relay per service (ordering depends on it).  It uses the shared ``OutboxRelay``:
unsent rows in insertion order, published pipelined with confirms in batches, marked
sent only once confirmed.  A SIGKILL between commit and publish, or between publish and
marking, therefore loses nothing and at worst publishes a message again with the same
``message_id``.  The publisher reconnects by itself across broker restarts.

The process answers ``GET /health`` on its own port with its broker connection, its
database, its backlog and its parked rows: 503 while the broker or the database is
down, or while any row is parked.  ``HEAD /health``, the sandbox's readiness probe,
leaves parked rows out (see ``sandbox.services.common.health``).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.messaging import Publisher, UnconfirmedError, ensure_topology
from sandbox.services.common import web
from sandbox.services.common.db import make_engine
from sandbox.services.common.doorbell import Doorbell, doorbell_address
from sandbox.services.common.outbox import OutboxRelay
from sandbox.services.common.web import utc_now_iso
from sandbox.services.payment import tables
from sandbox.services.payment.settings import RELAY_NAME, PaymentSettings
from sandbox.services.payment.storage import Storage, create_schema
from sandbox.topology import build

log = logging.getLogger(__name__)


def health_app(storage: Storage, publisher: Publisher, relay: OutboxRelay) -> Flask:
    app = Flask(__name__)
    web.install(app, RELAY_NAME)

    @app.get("/health")
    def health() -> Response:
        checks: dict[str, Any] = {
            "broker": {
                "status": "up" if publisher.connected else "down",
                "connections": publisher.connects,
            }
        }
        body: dict[str, Any] = {"service": RELAY_NAME, "timestamp": utc_now_iso()}
        parked = None
        try:
            parked = relay.parked()
            body["outbox"] = {"pending": storage.outbox_pending(), "parked": parked.count}
            checks["database"] = {"status": "up", "backend": storage.engine.dialect.name}
        except Exception as exc:
            checks["database"] = {"status": "down", "error": type(exc).__name__}
        body["relay"] = {
            "published": relay.stats.published,
            "parked": relay.stats.parked,
            "failed_batches": relay.stats.failed_batches,
            "passes": relay.stats.passes,
        }
        ready = all(check["status"] == "up" for check in checks.values())
        if parked is not None:
            checks["outbox"] = {
                "status": "parked" if parked.count else "up",
                "parked": parked.to_dict(),
            }
        healthy = all(check["status"] == "up" for check in checks.values())
        body["status"] = "healthy" if healthy else "unhealthy"
        body["ready"] = ready
        body["checks"] = checks
        response = jsonify(body)
        # HEAD is the sandbox's readiness probe: parked rows need a person, not a restart
        response.status_code = 200 if (ready if request.method == "HEAD" else healthy) else 503
        return response

    return app


def run(settings: PaymentSettings) -> int:
    """Relay until SIGTERM/SIGINT; return the exit code."""
    if not settings.broker.url:
        log.error("RABBITMQ_URL is not set: the relay has nowhere to publish")
        return 2
    engine = make_engine(settings.database())
    create_schema(engine)
    storage = Storage(engine)
    if settings.relay_declare_topology:
        try:
            ensure_topology(settings.broker.url, build(settings.broker))
        except Exception as exc:  # the broker may be down now; the publisher will retry
            log.warning("could not declare the topology: %r", exc)
    publisher = Publisher(
        settings.broker.url,
        settings.broker.exchange,
        heartbeat=settings.broker.heartbeat_s,
        reconnect_max_s=settings.broker.reconnect_max_s,
        name=RELAY_NAME,
    )
    try:
        publisher.start(wait_s=10.0)
    except UnconfirmedError:
        log.warning("no broker connection yet; relaying as soon as there is one")
    # the web process rings this doorbell after committing events (OUTBOX_DOORBELL)
    address = doorbell_address()
    doorbell = Doorbell(*address) if address else None
    relay = OutboxRelay(
        engine,
        tables.outbox,
        publisher,
        batch_size=settings.relay_batch_size,
        poll_interval_s=settings.relay_poll_interval_s,
        confirm_timeout_s=settings.relay_confirm_timeout_s,
        max_refusals=settings.broker.outbox_max_refusals,
        doorbell=doorbell,
    )
    server: BaseWSGIServer = make_server(
        settings.relay_host,
        settings.relay_port,
        health_app(storage, publisher, relay),
        threaded=True,
    )
    threading.Thread(target=server.serve_forever, name="relay-health", daemon=True).start()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("relay stopping on signal %d", signum)
        relay.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info(
        "relay started",
        extra={"fields": {"health_port": server.server_port, "exchange": publisher.exchange}},
    )
    try:
        relay.run()
    finally:
        server.shutdown()
        publisher.close()
        engine.dispose()
        if doorbell is not None:
            doorbell.close()
    log.info("relay stopped", extra={"fields": {"published": relay.stats.published}})
    return 0
