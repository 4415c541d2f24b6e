"""pytest fixtures for users' own tests: a broker, a fresh vhost per test, clients.

Installed as a pytest plugin (entry point ``payment_flow_sandbox``), so any project that
installs the sandbox gets these fixtures without imports:

- ``sandbox_settings``: settings from the environment, state under a session temp dir.
- ``rabbitmq_broker``: one broker for the session, provisioned in SPEC order.
- ``rabbitmq_vhost``: a fresh vhost for one test, deleted afterwards, with the topology
  not yet declared (``topology`` + ``declared_vhost`` for that).
- ``private_broker``: a factory for extra private nodes a test may stop, kill and
  restart without disturbing the session broker.
- ``event_tap``: an event tap on the test's ``declared_vhost``, validating every message
  against its contract.
- ``sandbox_stack``: a whole running sandbox (broker, mocks, services) for the session,
  as a ``SupervisorClient`` (which reads the control API's token and the generated
  secrets from the owner-only state file); ``flow``: a scenario ``Flow`` against it.

The contract gate: every test that uses ``declared_vhost`` runs with an event tap, and
fails at teardown if any message on the bus violated its contract, naming the message,
its producer and the failing path.  Mark a test ``contract_violations_expected`` when it
publishes bad messages on purpose; set ``sandbox_contract_gate = false`` in the pytest
ini file to turn the gate off for a project whose events are not in these contracts.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sandbox.broker import Admin, Broker, LocalNode, provision
from sandbox.control.state import SupervisorClient
from sandbox.messaging import ensure_topology
from sandbox.messaging.tap import EventTap
from sandbox.scenario.flow import Flow
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
def rabbitmq_vhost(rabbitmq_broker: Broker, rabbitmq_admin: Admin) -> Iterator[Vhost]:
    with fresh_vhost(rabbitmq_broker, rabbitmq_admin) as vhost:
        yield vhost


@pytest.fixture
def broker_settings() -> BrokerSettings:
    """Topology settings for a test; override this fixture to change names or delays."""
    return BrokerSettings()


@pytest.fixture
def topology(broker_settings: BrokerSettings) -> Topology:
    return build(broker_settings)


@pytest.fixture
def declared_vhost(
    rabbitmq_vhost: Vhost, topology: Topology, request: pytest.FixtureRequest
) -> Iterator[Vhost]:
    """A fresh vhost with the whole topology declared in it, watched by the contract gate."""
    ensure_topology(rabbitmq_vhost.url, topology)
    if not _gate_enabled(request.config):
        yield rabbitmq_vhost
        return
    from sandbox.contracts import ContractRegistry

    registry = ContractRegistry.load()
    tap = EventTap(
        rabbitmq_vhost.url, topology, validator=registry.validate_delivered, name="contract-gate"
    ).start()
    request.node.stash[_GATE_TAP] = tap
    try:
        yield rabbitmq_vhost
    finally:
        tap.stop()
    if request.node.get_closest_marker("contract_violations_expected"):
        return
    violations = tap.violations()
    if violations:
        lines = [
            f"  {r.event_key} message {r.message_id} from {r.producer or '?'}: "
            + "; ".join(r.violations)
            for r in violations
        ]
        pytest.fail(
            "contract gate: messages on the bus violated their contracts:\n" + "\n".join(lines),
            pytrace=False,
        )


@pytest.fixture
def event_tap(
    declared_vhost: Vhost, request: pytest.FixtureRequest, topology: Topology
) -> Iterator[EventTap]:
    """The tap watching ``declared_vhost`` (the contract gate's own when it is on)."""
    tap = request.node.stash.get(_GATE_TAP, None)
    if tap is not None:
        yield tap
        return
    with EventTap(declared_vhost.url, topology) as own:
        yield own


_GATE_TAP = pytest.StashKey[EventTap]()


@contextlib.contextmanager
def running_sandbox(
    state_dir: Path,
    profile: str = "dev",
    env: Mapping[str, str] | None = None,
    scale: Mapping[str, int] | None = None,
) -> Iterator[SupervisorClient]:
    """A whole sandbox in ``state_dir`` for a ``with`` block; the test fails, with the end
    of the supervisor's log, when it does not start.  Random ports: test sessions running
    side by side must not race for the usual ones.  ``env`` adds to its processes'
    environment (e.g. ``DATABASE_URL``); ``scale`` runs replicas (``sandbox up --scale``)."""
    from sandbox.control import lifecycle

    if lifecycle.up(state_dir, profile=profile, random_ports=True, env=env, scale=scale) != 0:
        log = state_dir / "logs" / "supervisor.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        lifecycle.down(state_dir)
        pytest.fail(f"sandbox did not start:\n{tail}", pytrace=False)
    try:
        yield SupervisorClient(state_dir)
    finally:
        lifecycle.down(state_dir)


@pytest.fixture(scope="session")
def sandbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupervisorClient]:
    """The whole sandbox, started once for the session and stopped at its end."""
    with running_sandbox(tmp_path_factory.mktemp("sandbox-stack")) as client:
        yield client


@pytest.fixture
def flow(sandbox_stack: SupervisorClient, request: pytest.FixtureRequest) -> Iterator[Flow]:
    """A scenario flow (own correlation id, tenant and tap) against ``sandbox_stack``."""
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    with Flow(sandbox_stack.state(), sandbox_stack, name) as current:
        yield current


def _gate_enabled(config: pytest.Config) -> bool:
    value = str(config.getini("sandbox_contract_gate")).strip().lower()
    return value not in ("false", "0", "no", "off")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "sandbox_contract_gate",
        "validate every message seen in declared_vhost against the contracts (default true)",
        default="true",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "contract_violations_expected: the test publishes contract-violating messages on "
        "purpose; the contract gate records them but does not fail the test",
    )


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
