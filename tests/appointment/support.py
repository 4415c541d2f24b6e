"""Helpers for tests that run the services for real: processes, vhosts, events, a tap.

Used by the appointment tests and by the notifier's end-to-end test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import port_for
import requests

from sandbox.contracts import example_body
from sandbox.control.process import ManagedProcess
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.tools import drain
from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from sandbox.topology import PAYMENT_SERVICE

REPO_ROOT = Path(__file__).resolve().parents[2]
# Short retry delays for tests where the ladder's timing is not the point.
FAST_BROKER = BrokerSettings(retry_delays_ms=(200, 400, 800))
START_TIMEOUT_S = 60.0


def broker_env(url: str, broker: BrokerSettings) -> dict[str, str]:
    """Environment that points a service process at ``url`` with ``broker``'s topology."""
    return {
        "RABBITMQ_URL": url,
        "RABBITMQ_QUEUE_TYPE": broker.queue_type,
        "RABBITMQ_RETRY_DELAYS_MS": ",".join(str(d) for d in broker.retry_delays_ms),
        "RABBITMQ_DELIVERY_LIMIT": str(broker.delivery_limit),
    }


def free_port() -> int:
    return int(port_for.select_random())


@contextmanager
def module_vhost(broker: Any, admin: Any) -> Iterator[Vhost]:
    """A vhost shared by one test module's long-running processes."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin.create_vhost(name)
    try:
        yield Vhost(name, broker.url_for(name), admin)
    finally:
        admin.delete_vhost(name)


@dataclass
class EventTap:
    """Collects what arrives in one unconsumed queue; drains (acks) so nothing is redelivered.

    Peeking instead would return messages to a quorum queue and count towards its
    delivery limit, which would eventually dead-letter them.
    """

    url: str
    queue: str
    seen: list[IncomingMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self) -> list[IncomingMessage]:
        with self.lock:
            self.seen.extend(drain(self.url, self.queue))
            return list(self.seen)

    def matching(self, routing_key: str | None = None, **body: Any) -> list[IncomingMessage]:
        """Messages collected so far with ``routing_key`` whose body has every ``body`` item."""
        found = []
        for message in self.poll():
            data = message.json()
            key = message.headers.get("x-original-routing-key") or message.routing_key
            if routing_key is not None and key != routing_key:
                continue
            if all(data.get(k) == v for k, v in body.items()):
                found.append(message)
        return found


def payment_event(
    routing_key: str,
    *,
    appointment_id: str,
    tenant_id: str,
    correlation_id: str | None = None,
    **overrides: Any,
) -> OutgoingMessage:
    """A valid payment event, as the payment service would publish it."""
    overrides.setdefault("paymentId", f"pay_{uuid.uuid4().hex[:12]}")
    body = example_body(routing_key, appointmentId=appointment_id, tenantId=tenant_id, **overrides)
    return OutgoingMessage.event(
        routing_key, body, producer=PAYMENT_SERVICE, correlation_id=correlation_id
    )


@dataclass
class AppointmentService:
    """The appointment service's three processes and where they answer."""

    url: str
    consumer_health: str
    relay_health: str
    database_url: str
    processes: list[ManagedProcess]

    def consumer_stats(self) -> dict[str, Any]:
        response = requests.get(self.consumer_health, timeout=5)
        stats: dict[str, Any] = response.json()["consumer"]
        return stats

    def outbox_pending(self) -> int:
        return int(requests.get(f"{self.url}/health", timeout=5).json()["outbox"]["pending"])

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@contextmanager
def appointment_service(
    state_dir: Path, amqp_url: str, broker: BrokerSettings
) -> Iterator[AppointmentService]:
    """Start web, consumer and relay as real processes; stop them afterwards."""
    port, consumer_port, relay_port = free_port(), free_port(), free_port()
    database_url = f"sqlite:///{state_dir / 'appointment.db'}"
    env = {
        **broker_env(amqp_url, broker),
        "SANDBOX_STATE_DIR": str(state_dir),
        "APPOINTMENT_DATABASE_URL": database_url,
        "APPOINTMENT_PORT": str(port),
        "APPOINTMENT_CONSUMER_HEALTH_PORT": str(consumer_port),
        "APPOINTMENT_RELAY_HEALTH_PORT": str(relay_port),
    }
    service = AppointmentService(
        url=f"http://127.0.0.1:{port}",
        consumer_health=f"http://127.0.0.1:{consumer_port}/health",
        relay_health=f"http://127.0.0.1:{relay_port}/health",
        database_url=database_url,
        processes=[],
    )
    module = "sandbox.services.appointment"
    health = {
        "web": f"{service.url}/health",
        "consumer": service.consumer_health,
        "relay": service.relay_health,
    }
    try:
        for name, url in health.items():
            process = ManagedProcess.python_module(
                f"appointment-{name}",
                module,
                name,
                log_file=state_dir / f"appointment-{name}.log",
                env=env,
                health_url=url,
                start_timeout_s=START_TIMEOUT_S,
                cwd=REPO_ROOT,
            )
            service.processes.append(process.start())
        yield service
    finally:
        service.stop()


@contextmanager
def payment_publisher(amqp_url: str, exchange: str) -> Iterator[Publisher]:
    with Publisher(amqp_url, exchange, name="test-payment-service") as publisher:
        yield publisher
