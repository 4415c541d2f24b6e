"""Helpers and fixtures for tests that run a service for real: its processes on free
ports, a vhost of the package's own, a collector of what lands in an unconsumed queue.

The appointment and notifier packages import the package-scoped fixtures into their
``conftest.py`` (``from tests.service_support import shared_vhost as shared_vhost``),
so each package gets its own vhost and its own service processes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import port_for
import pytest
import requests

from mocks.merchant.server import MockMerchantServer
from mocks.merchant.settings import MerchantMockSettings
from mocks.smtp.server import MockSmtpServer
from mocks.smtp.settings import SmtpMockSettings
from sandbox.control.process import ManagedProcess
from sandbox.messaging import OutgoingMessage, Publisher, ensure_topology
from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.tools import drain, publish_raw_message
from sandbox.pytest_plugin import Vhost, fresh_vhost
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology, build
from sandbox.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[1]
# Short retry delays for tests where the ladder's timing is not the point.
FAST_BROKER = BrokerSettings(retry_delays_ms=(200, 400, 800))
START_TIMEOUT_S = 60.0
PROCESSES = ("web", "consumer", "relay")
# what the tests' mock merchants sign their callbacks with
MERCHANT_SECRET = "whsec_test_merchant_secret"


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
            data = message.body
            if routing_key is not None and message.event_key != routing_key:
                continue
            if all(data.get(k) == v for k, v in body.items()):
                found.append(message)
        return found


def publish_altered(url: str, exchange: str, good: OutgoingMessage, **fields: Any) -> None:
    """Publish ``good`` with ``fields`` set in its body, past the publisher's own checks."""
    body = {**json.loads(good.body), **fields}
    publish_raw_message(
        url, exchange, good.routing_key, json.dumps(body).encode(), good.envelope.properties()
    )


# every dead letter drained so far, by message id: a drain takes (acks) all a DLQ holds,
# including what another test is still waiting for
_dead_letters: dict[str, IncomingMessage] = {}


def await_dead_letter(url: str, dlq: str, message_id: str, *, timeout: float) -> IncomingMessage:
    """Wait until ``message_id`` lands in ``dlq``; return the dead-lettered copy."""

    def arrived() -> IncomingMessage | None:
        for message in drain(url, dlq):
            _dead_letters[str(message.properties.get("message_id"))] = message
        return _dead_letters.get(message_id)

    return wait_for(arrived, timeout=timeout, what=f"{message_id} in {dlq}")


@dataclass
class RunningService:
    """One service's processes (web, consumer, relay) and where they answer."""

    url: str
    consumer_health: str
    relay_health: str
    database_url: str
    processes: list[ManagedProcess] = field(default_factory=list)

    def consumer_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = requests.get(self.consumer_health, timeout=5).json()["consumer"]
        return stats

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


Service = TypeVar("Service", bound=RunningService)


@contextmanager
def running_service(
    kind: type[Service],
    name: str,
    state_dir: Path,
    amqp_url: str,
    broker: BrokerSettings,
    env: dict[str, str] | None = None,
    processes: Sequence[str] = PROCESSES,
) -> Iterator[Service]:
    """Start ``sandbox.services.<name>``'s processes for real; stop them afterwards."""
    prefix = name.upper()
    port, consumer_port, relay_port = free_port(), free_port(), free_port()
    database_url = f"sqlite:///{state_dir / f'{name}.db'}"
    environment = {
        **broker_env(amqp_url, broker),
        "SANDBOX_STATE_DIR": str(state_dir),
        f"{prefix}_DATABASE_URL": database_url,
        f"{prefix}_PORT": str(port),
        f"{prefix}_CONSUMER_HEALTH_PORT": str(consumer_port),
        f"{prefix}_RELAY_HEALTH_PORT": str(relay_port),
        **(env or {}),
    }
    service = kind(
        url=f"http://127.0.0.1:{port}",
        consumer_health=f"http://127.0.0.1:{consumer_port}/health",
        relay_health=f"http://127.0.0.1:{relay_port}/health",
        database_url=database_url,
    )
    health = {
        "web": f"{service.url}/health",
        "consumer": service.consumer_health,
        "relay": service.relay_health,
    }
    try:
        for process_name in processes:
            process = ManagedProcess.python_module(
                f"{name}-{process_name}",
                f"sandbox.services.{name}",
                process_name,
                log_file=state_dir / f"{name}-{process_name}.log",
                env=environment,
                health_url=health[process_name],
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


# -- package fixtures ---------------------------------------------------------------------


def mock_smtp_on_free_ports() -> MockSmtpServer:
    """The mock SMTP server and its inbox API on free ports; ``with`` it to run it."""
    return MockSmtpServer(SmtpMockSettings(smtp_port=0, http_port=0))


def mock_merchant_on_free_port(secret: str = MERCHANT_SECRET) -> MockMerchantServer:
    """A mock merchant signing with ``secret`` on a free port; ``with`` it to run it."""
    return MockMerchantServer(MerchantMockSettings(port=0, secret=secret))


@pytest.fixture
def own_smtp() -> Iterator[MockSmtpServer]:
    """A mock SMTP server of the test's own, for a test that makes it refuse or needs
    its inbox to itself."""
    with mock_smtp_on_free_ports() as server:
        yield server


@pytest.fixture
def own_merchant() -> Iterator[MockMerchantServer]:
    """A mock merchant of the test's own, for a test that reads all its callbacks."""
    with mock_merchant_on_free_port() as server:
        yield server


# page numbers that are not plain ASCII digits: every service's listing refuses them
NOT_PLAIN_PAGES = ["\uff11", "+1", " 1", "1.0", "0x1", ""]


def assert_invalid_pagination(http: requests.Session, url: str, page: str) -> None:
    """GET ``url`` asking for ``page``: refused with 400 INVALID_PAGINATION."""
    response = http.get(url, params={"page": page})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_PAGINATION"


@pytest.fixture(scope="package")
def fast_broker() -> BrokerSettings:
    return FAST_BROKER


@pytest.fixture(scope="package")
def fast_topology(fast_broker: BrokerSettings) -> Topology:
    return build(fast_broker)


@pytest.fixture(scope="package")
def shared_vhost(
    sandbox_broker: Any, sandbox_admin: Any, fast_topology: Topology
) -> Iterator[Vhost]:
    with fresh_vhost(sandbox_broker, sandbox_admin) as vhost:
        ensure_topology(vhost.url, fast_topology)
        yield vhost


@pytest.fixture(scope="package")
def publisher(shared_vhost: Vhost, fast_topology: Topology) -> Iterator[Publisher]:
    with payment_publisher(shared_vhost.url, fast_topology.exchange.name) as p:
        yield p


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """An HTTP session, closed afterwards."""
    with requests.Session() as session:
        yield session
