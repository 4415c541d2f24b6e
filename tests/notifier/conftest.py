"""Fixtures for the notifier tests: mocks on real sockets, the notifier as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mocks.merchant.server import MockMerchantServer
from mocks.merchant.settings import MerchantMockSettings
from mocks.smtp.server import MockSmtpServer
from mocks.smtp.settings import SmtpMockSettings
from sandbox.messaging import Publisher, ensure_topology
from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology, build
from tests.appointment.support import FAST_BROKER, EventTap, module_vhost, payment_publisher
from tests.notifier.support import MERCHANT_SECRET, Inbox, NotifierService, notifier_service


@pytest.fixture(scope="package")
def fast_broker() -> BrokerSettings:
    return FAST_BROKER


@pytest.fixture(scope="package")
def fast_topology(fast_broker: BrokerSettings) -> Topology:
    return build(fast_broker)


@pytest.fixture(scope="package")
def shared_vhost(
    rabbitmq_broker: Any, rabbitmq_admin: Any, fast_topology: Topology
) -> Iterator[Vhost]:
    with module_vhost(rabbitmq_broker, rabbitmq_admin) as vhost:
        ensure_topology(vhost.url, fast_topology)
        yield vhost


@pytest.fixture(scope="package")
def smtp() -> Iterator[MockSmtpServer]:
    with MockSmtpServer(SmtpMockSettings(smtp_port=0, http_port=0)) as server:
        yield server


@pytest.fixture(scope="package")
def inbox(smtp: MockSmtpServer) -> Inbox:
    return Inbox(smtp.http_url)


@pytest.fixture(scope="package")
def merchant() -> Iterator[MockMerchantServer]:
    with MockMerchantServer(MerchantMockSettings(port=0, secret=MERCHANT_SECRET)) as server:
        yield server


@pytest.fixture(scope="package")
def notifier(
    tmp_path_factory: pytest.TempPathFactory,
    shared_vhost: Vhost,
    fast_broker: BrokerSettings,
    smtp: MockSmtpServer,
    merchant: MockMerchantServer,
) -> Iterator[NotifierService]:
    state_dir: Path = tmp_path_factory.mktemp("notifier")
    with notifier_service(
        state_dir,
        shared_vhost.url,
        fast_broker,
        smtp_port=smtp.smtp_port,
        merchant_url=merchant.callback_url,
    ) as running:
        yield running


@pytest.fixture(scope="package")
def publisher(shared_vhost: Vhost, fast_topology: Topology) -> Iterator[Publisher]:
    with payment_publisher(shared_vhost.url, fast_topology.exchange.name) as p:
        yield p


@pytest.fixture(scope="package")
def notification_events(shared_vhost: Vhost, fast_broker: BrokerSettings) -> EventTap:
    return EventTap(shared_vhost.url, fast_broker.notification_events_queue)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
