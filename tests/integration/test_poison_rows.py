"""No poison row wedges a relay, tried on a whole running sandbox.

An ``X-Correlation-Id`` AMQP cannot carry is refused at the HTTP edge and nothing is
stored.  A row that still cannot be published (planted straight into an outbox, as a
bug or an older version might leave one) is parked with its reason; the relay's health
and ``sandbox status`` report it, and the flows written after it complete, email and all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, Table, func, select

from sandbox.contracts import example_body
from sandbox.control.state import SupervisorClient
from sandbox.messaging import OutgoingMessage
from sandbox.pytest_plugin import running_sandbox
from sandbox.scenario.flow import Flow
from sandbox.scenario.steps import book_and_pay
from sandbox.services.appointment import storage as appointment_storage
from sandbox.services.common.db import make_engine, sqlite_url
from sandbox.services.common.outbox import add_events
from sandbox.services.payment import tables as payment_tables
from sandbox.waiting import wait_for
from tests.appointment.support import BOOKING

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# 64 "é" as UTF-8 (128 bytes on the wire) arrive as 128 latin-1 characters: 256 bytes
# of UTF-8 in an AMQP property, one over the limit
POISON = "é".encode().decode("latin-1") * 64
# (the WSGI server itself refuses every other control character before the service)
BAD_IDS = {
    "64-e-acute": ("é" * 64).encode(),
    "control-character-tab": b"flow\tid",
    "space": b"my flow",
    "129-ascii": b"a" * 129,
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupervisorClient]:
    """A sandbox of this module's own: the parked rows leave it unhealthy on purpose."""
    with running_sandbox(tmp_path_factory.mktemp("poison-rows")) as client:
        yield client


def _url(client: SupervisorClient, component: str, key: str = "endpoint") -> str:
    return str(client.state()["components"][component][key])


def _database(client: SupervisorClient, service: str) -> Engine:
    return make_engine(sqlite_url(client.state_file.state_dir / "data" / f"{service}.db"))


def _rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _assert_refused(response: requests.Response, sent: bytes) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == "INVALID_HEADER", body
    assert body["error"]["details"] == {"field": "X-Correlation-Id"}, body
    assert "X-Correlation-Id" in body["error"]["message"]
    assert body["timestamp"]
    assert response.headers["X-Correlation-Id"].encode("latin-1") != sent


def _post_refused(
    sandbox: SupervisorClient,
    service: str,
    outbox: Table,
    path: str,
    body: dict[str, Any],
    correlation_id: bytes,
) -> tuple[str, str]:
    """POST ``body`` to ``service`` as a new tenant with ``correlation_id``: refused, and
    nothing new in the service's outbox.  Returns the service's URL and the tenant."""
    tenant = f"edge-{uuid.uuid4().hex[:8]}"
    engine = _database(sandbox, service)
    outbox_before = _rows(engine, outbox)
    url = _url(sandbox, service)

    response = requests.post(
        f"{url}{path}",
        json=body,
        headers={"X-Tenant-Id": tenant, "X-Correlation-Id": correlation_id},
        timeout=10,
    )

    _assert_refused(response, correlation_id)
    assert _rows(engine, outbox) == outbox_before
    engine.dispose()
    return url, tenant


@pytest.mark.parametrize("value", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_a_booking_with_an_unpublishable_correlation_id_is_refused_and_nothing_stored(
    sandbox: SupervisorClient, value: bytes
) -> None:
    url, tenant = _post_refused(
        sandbox, "appointment", appointment_storage.outbox_rows, "/appointments", BOOKING, value
    )
    listed = requests.get(f"{url}/appointments", headers={"X-Tenant-Id": tenant}, timeout=10)
    assert listed.json()["total"] == 0, listed.text


@pytest.mark.parametrize("value", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_an_intent_with_an_unpublishable_correlation_id_is_refused_and_nothing_stored(
    sandbox: SupervisorClient, value: bytes
) -> None:
    body = {"user_id": "user_123", "booking_id": f"BOOK-{uuid.uuid4().hex[:8]}", "amount": 75.0}
    url, tenant = _post_refused(
        sandbox, "payment", payment_tables.outbox, "/payment/intents", body, value
    )
    listed = requests.get(f"{url}/payments", headers={"X-Tenant-Id": tenant}, timeout=10)
    assert listed.status_code == 200, listed.text
    assert listed.json()["pagination"]["total"] == 0, listed.text


def _plant(engine: Engine, table: Table, routing_key: str, producer: str) -> str:
    """Write an event whose correlation id no AMQP client can encode; return its id."""
    message = OutgoingMessage.event(
        routing_key, example_body(routing_key), producer=producer, correlation_id=POISON
    )
    with engine.begin() as conn:
        add_events(conn, table, [message], aggregate_id=f"poison-{uuid.uuid4().hex[:8]}")
    engine.dispose()
    return message.message_id


def _health(client: SupervisorClient, relay: str) -> requests.Response:
    return requests.get(_url(client, relay, "health_url"), timeout=5)


def _parked(client: SupervisorClient, relay: str) -> dict[str, Any] | None:
    """The relay's parked-rows report once its health says so, else None."""
    response = _health(client, relay)
    if response.status_code != 503:
        return None
    for check in response.json()["checks"].values():
        if isinstance(check, dict) and check.get("parked", {}).get("count"):
            return dict(check["parked"])
    return None


def test_poison_rows_are_parked_reported_and_later_flows_complete(
    sandbox: SupervisorClient, tmp_path: Path
) -> None:
    planted = {
        "appointment-relay": _plant(
            _database(sandbox, "appointment"),
            appointment_storage.outbox_rows,
            "appointment.created",
            "appointment-service",
        ),
        "payment-relay": _plant(
            _database(sandbox, "payment"),
            payment_tables.outbox,
            "payment.created",
            "payment-service",
        ),
    }

    for relay, message_id in planted.items():
        parked = wait_for(
            lambda relay=relay: _parked(sandbox, relay),
            timeout=30,
            what=f"{relay} to report its parked row",
            seen=lambda relay=relay: _health(sandbox, relay).text,
        )
        assert parked["count"] == 1, parked
        assert parked["latest"]["message_id"] == message_id, parked
        reason = parked["latest"]["reason"]
        assert "correlation_id is 256 bytes" in reason, reason
        assert POISON not in reason
        # still ready: the readiness probe (HEAD) would not block a restart
        head = requests.head(_url(sandbox, relay, "health_url"), timeout=5)
        assert head.status_code == 200, relay

    status = subprocess.run(
        [sys.executable, "-m", "sandbox", "status"],
        env={**os.environ, "SANDBOX_STATE_DIR": str(sandbox.state_file.state_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert status.returncode == 1, status.stdout + status.stderr
    unhealthy = [line.split()[0] for line in status.stdout.splitlines() if "unhealthy" in line]
    assert sorted(unhealthy) == ["appointment-relay", "payment-relay"], status.stdout

    # every event written after the poison rows still goes out: a whole flow, email included
    with Flow(sandbox.state(), sandbox, "after-poison") as flow:
        book_and_pay(flow)
        flow.expect("payment.completed", within=10)
        flow.expect_email(subject="Appointment confirmed", within=20)
