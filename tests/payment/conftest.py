"""Fixtures for the payment service's tests.

Session-wide, per database backend (SQLite always, PostgreSQL when it answers): one
mock provider process, one vhost with the topology, and a ``stack`` (web + relay
processes) that tests share; tests keep apart by using their own booking ids and
tenants.  Tests that kill or restart something build their own stack with
``stack_factory``.  Every stack's database, logs and messages end up in ``artifacts``,
which the card-data scan (run last) reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox.messaging import ensure_topology
from sandbox.services.payment.bookings import Bookings
from sandbox.services.payment.fake_provider import FakeProvider
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from tests.payment.support import (
    Database,
    EventLog,
    PaymentStack,
    Provider,
    free_port,
    make_database,
    provider_process,
)
from tests.payment.unit_support import make_app
from tests.postgres import skip_without_postgres

BACKENDS = ("sqlite", "postgresql")
SCAN_MODULE = "test_card_data_never_leaks"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the card-data scan after every other payment test (it reads what they left)."""
    last = [item for item in items if SCAN_MODULE in item.nodeid]
    if last:
        items[:] = [item for item in items if SCAN_MODULE not in item.nodeid] + last


@dataclass
class Artifacts:
    """What every payment test run left behind: log files, database dumps, messages."""

    directory: Path
    events: EventLog = field(default_factory=EventLog)
    databases: list[Database] = field(default_factory=list)
    dumps: list[Path] = field(default_factory=list)

    def keep_dump(self, database: Database, name: str) -> None:
        path = self.directory / f"{name}-{uuid.uuid4().hex[:6]}.dump.txt"
        path.write_text(database.dump())
        self.dumps.append(path)

    def new_stack(
        self,
        name: str,
        backend: str,
        directory: Path,
        broker_url: str,
        provider_url: str,
        web_port: int,
        env: dict[str, str] | None = None,
    ) -> PaymentStack:
        """A stack (not started) on a new ``backend`` database kept in ``directory``."""
        database = make_database(backend, directory)
        self.databases.append(database)
        return PaymentStack(
            name,
            database,
            broker_url,
            provider_url,
            self.directory,
            web_port,
            free_port(),
            dict(env or {}),
        )

    def retire(self, running: PaymentStack) -> None:
        """Stop the stack, keep a dump of its database for the scan, drop the database."""
        running.stop()
        self.keep_dump(running.database, running.name)
        running.database.drop()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return Artifacts(tmp_path_factory.mktemp("payment-artifacts"))


@pytest.fixture(scope="session")
def web_ports() -> dict[str, int]:
    """The shared stacks' ports, chosen first so the provider knows where to send webhooks."""
    return {backend: free_port() for backend in BACKENDS}


@pytest.fixture(scope="session")
def provider(artifacts: Artifacts, web_ports: dict[str, int]) -> Iterator[Provider]:
    urls = [f"http://127.0.0.1:{port}/payment/webhook" for port in web_ports.values()]
    with provider_process(artifacts.directory, urls) as running:
        yield running


@pytest.fixture
def clean_provider(provider: Provider) -> Iterator[Provider]:
    """The provider, with faults, webhook faults and its clock undone after the test."""
    yield provider
    provider.clean()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        skip_without_postgres()
    return str(request.param)


@pytest.fixture(scope="session")
def session_vhost(sandbox_broker, sandbox_admin) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"payment-{uuid.uuid4().hex[:10]}"
    sandbox_admin.create_vhost(name)
    url = sandbox_broker.url_for(name)
    ensure_topology(url, build(BrokerSettings()))
    try:
        yield url
    finally:
        sandbox_admin.delete_vhost(name)


@pytest.fixture(scope="session")
def stack(
    backend: str,
    provider: Provider,
    session_vhost: str,
    artifacts: Artifacts,
    web_ports: dict[str, int],
) -> Iterator[PaymentStack]:
    """The shared web + relay of one backend, publishing into the session vhost."""
    directory = artifacts.directory / f"stack-{backend}"
    directory.mkdir(exist_ok=True)
    running = artifacts.new_stack(
        f"payment-{backend}", backend, directory, session_vhost, provider.url, web_ports[backend]
    ).start()
    try:
        yield running
    finally:
        artifacts.retire(running)
        artifacts.events.collect(session_vhost)


@pytest.fixture
def events(artifacts: Artifacts) -> EventLog:
    return artifacts.events


StackFactory = Callable[..., PaymentStack]


@pytest.fixture
def stack_factory(
    backend: str, provider: Provider, artifacts: Artifacts, tmp_path: Path
) -> Iterator[StackFactory]:
    """Private stacks a test may kill and restart; stopped, dumped and dropped after it."""
    made: list[PaymentStack] = []

    def make(
        broker_url: str, *, relay: bool = True, env: dict[str, str] | None = None
    ) -> PaymentStack:
        name = f"private-{backend}-{len(made)}"
        running = artifacts.new_stack(
            name, backend, tmp_path, broker_url, provider.url, free_port(), env
        )
        made.append(running)
        return running.start(relay=relay)

    yield make
    for running in made:
        artifacts.retire(running)


# -- the API in-process over a fake provider and a SQLite file (the unit tests) ----------


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def bookings() -> Bookings | None:
    """The appointment directory the app asks; None: every booking is external."""
    return None


@pytest.fixture
def app(tmp_path: Path, fake: FakeProvider, bookings: Bookings | None) -> Iterator[Flask]:
    yield from make_app(tmp_path, fake, bookings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
