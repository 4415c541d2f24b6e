"""The notifier pointed at a different, real SMTP server: aiosmtpd's own command line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.messaging import Publisher
from sandbox.messaging.connection import port_open
from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology
from sandbox.waiting import wait_for
from tests.notifier.support import (
    SCRIPT_NAME,
    NotifierService,
    appointment_event,
    notifier_service,
    unique_email,
)
from tests.service_support import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def aiosmtpd_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``python -m aiosmtpd -n -l 127.0.0.1:PORT``: its Debugging handler prints each mail."""
    # Started with Popen rather than ManagedProcess: ManagedProcess's ``ready=`` mode
    # fails in mirakuru (its Executor needs pre_start_check), see the final report.
    port = free_port()
    log = tmp_path / "aiosmtpd.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(
            lambda: port_open("127.0.0.1", port) or process.poll() is not None,
            timeout=20,
            what=f"aiosmtpd listening on {port}",
        )
        assert process.poll() is None, log.read_text()
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def notifier_on_aiosmtpd(
    tmp_path: Path,
    sandbox_declared_vhost: Vhost,
    sandbox_broker_settings: BrokerSettings,
    aiosmtpd_server: tuple[int, Path],
) -> Iterator[NotifierService]:
    port, _ = aiosmtpd_server
    with notifier_service(
        tmp_path,
        sandbox_declared_vhost.url,
        sandbox_broker_settings,
        smtp_port=port,
        processes=("consumer",),
    ) as running:
        yield running


def test_notifier_delivers_to_the_smtp_server_it_is_configured_with(
    notifier_on_aiosmtpd: NotifierService,
    aiosmtpd_server: tuple[int, Path],
    sandbox_declared_vhost: Vhost,
    sandbox_topology: Topology,
) -> None:
    _, log = aiosmtpd_server
    recipient = unique_email()
    flow = f"flow-{uuid.uuid4().hex}"
    event = appointment_event(
        "appointment.confirmed",
        correlation_id=flow,
        customerEmail=recipient,
        customerName=SCRIPT_NAME,
        service="Deep tissue massage",
    )

    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        publisher.publish(event)

    def printed_message() -> str | None:
        text = log.read_text()
        return text if "END MESSAGE" in text else None

    printed = wait_for(
        printed_message,
        timeout=20,
        what="aiosmtpd printing the message",
        seen=lambda: log.read_text()[-2000:],
    )
    assert printed is not None
    assert "---------- MESSAGE FOLLOWS ----------" in printed
    assert f"To: {recipient}" in printed
    assert "Subject: Appointment confirmed: Deep tissue massage on " in printed
    assert f"X-Correlation-Id: {flow}" in printed
    assert "&lt;script&gt;" in printed
