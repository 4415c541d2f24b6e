"""pytest fixtures for users' own tests: a broker, a fresh vhost per test, clients.

Installed as a pytest plugin (entry point ``payment_flow_sandbox``), so any project that
installs the sandbox gets these fixtures without imports:

- ``sandbox_settings``: settings from the environment, state under a session temp dir.
- ``rabbitmq_broker``: one broker for the session, provisioned in SPEC order.
- ``rabbitmq_vhost``: a fresh vhost for one test, deleted afterwards, with the topology
  not yet declared (``topology`` + ``declared_vhost`` for that).
- ``private_broker``: a factory for extra private nodes a test may stop, kill and
  restart without disturbing the session broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sandbox.broker import Admin, Broker, LocalNode, provision
from sandbox.messaging import ensure_topology
from sandbox.settings import BrokerSettings, SandboxSettings
from sandbox.topology import Topology, build


@dataclass(frozen=True)
class Vhost:
    """A vhost created for one test: its name, AMQP URL and an admin client."""

    name: str
    url: str
    admin: Admin


@pytest.fixture(scope="session")
def sandbox_settings(tmp_path_factory: pytest.TempPathFactory) -> SandboxSettings:
    settings = SandboxSettings.from_env()
    return replace(settings, state_dir=tmp_path_factory.mktemp("sandbox-state"))


@pytest.fixture(scope="session")
def rabbitmq_broker(sandbox_settings: SandboxSettings) -> Iterator[Broker]:
    broker = provision(sandbox_settings, name="session-broker")
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def rabbitmq_admin(rabbitmq_broker: Broker) -> Admin:
    return Admin.for_amqp_url(rabbitmq_broker.url, rabbitmq_broker.management_url)


@pytest.fixture
def rabbitmq_vhost(rabbitmq_broker: Broker, rabbitmq_admin: Admin) -> Iterator[Vhost]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    rabbitmq_admin.create_vhost(name)
    try:
        yield Vhost(name, rabbitmq_broker.url_for(name), rabbitmq_admin)
    finally:
        rabbitmq_admin.delete_vhost(name)


@pytest.fixture
def broker_settings() -> BrokerSettings:
    """Topology settings for a test; override this fixture to change names or delays."""
    return BrokerSettings()


@pytest.fixture
def topology(broker_settings: BrokerSettings) -> Topology:
    return build(broker_settings)


@pytest.fixture
def declared_vhost(rabbitmq_vhost: Vhost, topology: Topology) -> Vhost:
    """A fresh vhost with the whole topology declared in it."""
    ensure_topology(rabbitmq_vhost.url, topology)
    return rabbitmq_vhost


@pytest.fixture
def private_broker(
    tmp_path: Path, sandbox_settings: SandboxSettings
) -> Iterator[Callable[[], LocalNode]]:
    """Factory for private nodes a test may stop, kill and restart; all removed after."""
    nodes: list[LocalNode] = []

    def start() -> LocalNode:
        node = LocalNode(
            tmp_path / f"node-{len(nodes)}",
            start_timeout_s=sandbox_settings.broker_start_timeout_s,
        )
        nodes.append(node)
        return node.start()

    try:
        yield start
    finally:
        for node in nodes:
            node.kill()
