"""Broker fixtures: the session's one broker, a fresh vhost per test, the topology, the tap.

One broker serves the whole session: the running sandbox's own when the session uses
one (``sandbox_stack``, ``sandbox_flow``, or ``SANDBOX_REUSE``), so that a tap on a
test's vhost and a flow on the sandbox are on the same node; otherwise a broker
provisioned for the session (``RABBITMQ_URL``, a container or a private node).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from sandbox.broker import Admin, Broker, ExternalBroker, LocalNode, provision
from sandbox.control.state import SupervisorClient
from sandbox.messaging import ensure_topology
from sandbox.messaging.tap import EventTap
from sandbox.pytest_plugin import gate
from sandbox.pytest_plugin.stack import reuse_dir
from sandbox.settings import BrokerSettings, SandboxSettings
from sandbox.topology import Topology, build


@dataclass(frozen=True)
class Vhost:
    """A vhost created for one test: its name, AMQP URL and an admin client."""

    name: str
    url: str
    admin: Admin


class SandboxBroker(ExternalBroker):
    """The running sandbox's broker, seen from a test: used, never stopped by the test
    (``flow.processes.kill("broker")`` and friends go through the sandbox's supervisor)."""

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__(str(entry["url"]), entry.get("management_url"))
        self.kind = str(entry.get("kind") or "external")
        self._entry = entry

    def info(self) -> dict[str, Any]:
        return dict(self._entry)


def session_needs_stack(session: pytest.Session) -> bool:
    """True when a test of this session runs against the whole sandbox."""
    return any("sandbox_stack" in getattr(item, "fixturenames", ()) for item in session.items)


@pytest.fixture(scope="session")
def sandbox_settings(tmp_path_factory: pytest.TempPathFactory) -> SandboxSettings:
    """Settings from the environment, with the state under a temp dir of the session."""
    settings = SandboxSettings.from_env()
    return replace(settings, state_dir=tmp_path_factory.mktemp("sandbox-state"))


@pytest.fixture(scope="session")
def sandbox_broker(
    request: pytest.FixtureRequest, sandbox_settings: SandboxSettings
) -> Iterator[Broker]:
    """The session's one broker: the sandbox's own when the session runs or reuses one."""
    if reuse_dir(request.config) is not None or session_needs_stack(request.session):
        stack: SupervisorClient = request.getfixturevalue("sandbox_stack")
        yield SandboxBroker(dict(stack.state().get("broker") or {}))
        return
    broker = provision(sandbox_settings, name="session-broker")
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def sandbox_admin(sandbox_broker: Broker) -> Admin:
    """The management API of ``sandbox_broker`` (vhosts, queues, definitions)."""
    return Admin.for_amqp_url(sandbox_broker.url, sandbox_broker.management_url)


@contextlib.contextmanager
def fresh_vhost(broker: Broker, admin: Admin) -> Iterator[Vhost]:
    """A vhost of its own on ``broker``, deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin.create_vhost(name)
    try:
        yield Vhost(name, broker.url_for(name), admin)
    finally:
        admin.delete_vhost(name)


@pytest.fixture
def sandbox_vhost(sandbox_broker: Broker, sandbox_admin: Admin) -> Iterator[Vhost]:
    """A fresh, empty vhost for one test (no topology), deleted afterwards."""
    with fresh_vhost(sandbox_broker, sandbox_admin) as vhost:
        yield vhost


@pytest.fixture
def sandbox_broker_settings() -> BrokerSettings:
    """Topology settings for a test; override this fixture to change names or delays."""
    return BrokerSettings()


@pytest.fixture
def sandbox_topology(sandbox_broker_settings: BrokerSettings) -> Topology:
    """The topology built from ``sandbox_broker_settings``."""
    return build(sandbox_broker_settings)


@pytest.fixture
def sandbox_declared_vhost(
    sandbox_vhost: Vhost, sandbox_topology: Topology, request: pytest.FixtureRequest
) -> Iterator[Vhost]:
    """A fresh vhost with the whole topology declared in it, watched by the contract gate."""
    ensure_topology(sandbox_vhost.url, sandbox_topology)
    if not gate.gate_enabled(request.config):
        yield sandbox_vhost
        return
    tap = EventTap(
        sandbox_vhost.url, sandbox_topology, validator=gate.validator(), name="contract-gate"
    ).start()
    request.node.stash[_GATE_TAP] = tap
    try:
        yield sandbox_vhost
    finally:
        tap.settle()  # what the test published, the gate sees
        tap.stop()
    gate.check(tap, request)


@pytest.fixture
def sandbox_event_tap(
    sandbox_declared_vhost: Vhost, request: pytest.FixtureRequest, sandbox_topology: Topology
) -> Iterator[EventTap]:
    """The tap watching ``sandbox_declared_vhost`` (the contract gate's own when it is on)."""
    tap = request.node.stash.get(_GATE_TAP, None)
    if tap is not None:
        yield tap
        return
    with EventTap(sandbox_declared_vhost.url, sandbox_topology) as own:
        yield own


_GATE_TAP = pytest.StashKey[EventTap]()


@pytest.fixture
def sandbox_private_broker(
    tmp_path: Path, sandbox_settings: SandboxSettings
) -> Iterator[Callable[[], LocalNode]]:
    """Factory for extra private nodes a test may stop, kill and restart without
    disturbing the session's broker; all removed after the test."""
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
