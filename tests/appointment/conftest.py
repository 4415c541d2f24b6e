"""Fixtures for the appointment tests: one running service for the package, on its own vhost."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from tests.appointment.support import BOOKING, AppointmentService, appointment_service
from tests.service_support import EventTap
from tests.service_support import fast_broker as fast_broker
from tests.service_support import fast_topology as fast_topology
from tests.service_support import http as http
from tests.service_support import publisher as publisher
from tests.service_support import shared_vhost as shared_vhost


@pytest.fixture(scope="package")
def service(
    tmp_path_factory: pytest.TempPathFactory, shared_vhost: Vhost, fast_broker: BrokerSettings
) -> Iterator[AppointmentService]:
    state_dir: Path = tmp_path_factory.mktemp("appointment")
    with appointment_service(state_dir, shared_vhost.url, fast_broker) as running:
        yield running


@pytest.fixture(scope="package")
def appointment_events(shared_vhost: Vhost, fast_broker: BrokerSettings) -> EventTap:
    """What the appointment service published (nobody consumes the notifier's queue here)."""
    return EventTap(shared_vhost.url, fast_broker.notification_queue)


@pytest.fixture
def tenant() -> str:
    return f"tenant_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def book(
    service: AppointmentService, http: requests.Session, tenant: str
) -> Callable[..., dict[str, Any]]:
    """Create an appointment over HTTP for this test's tenant; return its JSON."""

    def create(**overrides: Any) -> dict[str, Any]:
        body = {**BOOKING, **overrides}
        response = http.post(
            f"{service.url}/appointments", json=body, headers={"X-Tenant-Id": tenant}
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return create
