"""Helpers for the notifier tests: its processes, the mock inbox, events to publish."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from mocks.clients import SmtpClient
from mocks.merchant.server import MockMerchantServer
from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage
from sandbox.settings import BrokerSettings
from sandbox.topology import APPOINTMENT_SERVICE
from tests.service_support import RunningService, running_service

# the tenant of the contracts' example events, which the tests publish
EXAMPLE_TENANT = "tenant123"
SCRIPT_NAME = "<script>alert('owned')</script> Jane"


def appointment_event(
    routing_key: str, *, correlation_id: str | None = None, **overrides: Any
) -> OutgoingMessage:
    """A valid appointment event, as the appointment service would publish it."""
    overrides.setdefault("appointmentId", f"appt_{uuid.uuid4().hex[:12]}")
    body = example_body(routing_key, **overrides)
    return OutgoingMessage.event(
        routing_key, body, producer=APPOINTMENT_SERVICE, correlation_id=correlation_id
    )


def unique_email() -> str:
    return f"customer-{uuid.uuid4().hex[:12]}@example.com"


# The mock SMTP server's HTTP inbox, read and driven through its client.
Inbox = SmtpClient


class NotifierService(RunningService):
    """The notifier's processes and where they answer."""

    def audit(self, tenant: str | None = EXAMPLE_TENANT, **filters: str) -> list[dict[str, Any]]:
        """The audit rows of ``tenant`` (None: no X-Tenant-Id, the default tenant)."""
        headers = {} if tenant is None else {"X-Tenant-Id": tenant}
        response = requests.get(
            f"{self.url}/notifications", params=filters, headers=headers, timeout=5
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@contextmanager
def notifier_service(
    state_dir: Path,
    amqp_url: str,
    broker: BrokerSettings,
    *,
    smtp_port: int,
    merchant: MockMerchantServer | None = None,
    processes: Sequence[str] = ("web", "consumer", "relay"),
) -> Iterator[NotifierService]:
    """Start the notifier's processes for real, calling ``merchant`` back with its own
    secret; stop them afterwards."""
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TIMEOUT_S": "5",
        "MERCHANT_CALLBACK_URL": merchant.callback_url if merchant else "",
        "MERCHANT_CALLBACK_SECRET": merchant.settings.secret if merchant else "",
    }
    with running_service(
        NotifierService, "notifier", state_dir, amqp_url, broker, env, processes
    ) as service:
        yield service
