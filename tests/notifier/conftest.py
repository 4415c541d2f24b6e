"""Fixtures for the notifier tests: mocks on real sockets, the notifier as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mocks.merchant.server import MockMerchantServer
from mocks.smtp.server import MockSmtpServer
from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from tests.notifier.support import Inbox, NotifierService, notifier_service
from tests.service_support import EventTap, mock_merchant_on_free_port, mock_smtp_on_free_ports
from tests.service_support import fast_broker as fast_broker
from tests.service_support import fast_topology as fast_topology
from tests.service_support import http as http
from tests.service_support import own_merchant as own_merchant
from tests.service_support import own_smtp as own_smtp
from tests.service_support import publisher as publisher
from tests.service_support import shared_vhost as shared_vhost


@pytest.fixture(scope="package")
def smtp() -> Iterator[MockSmtpServer]:
    with mock_smtp_on_free_ports() as server:
        yield server


@pytest.fixture(scope="package")
def inbox(smtp: MockSmtpServer) -> Inbox:
    return Inbox(smtp.http_url)


@pytest.fixture(scope="package")
def merchant() -> Iterator[MockMerchantServer]:
    with mock_merchant_on_free_port() as server:
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
        state_dir, shared_vhost.url, fast_broker, smtp_port=smtp.smtp_port, merchant=merchant
    ) as running:
        yield running


@pytest.fixture(scope="package")
def notification_events(shared_vhost: Vhost, fast_broker: BrokerSettings) -> EventTap:
    return EventTap(shared_vhost.url, fast_broker.notification_events_queue)
