"""``python -m mocks.smtp`` as its own OS process: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_smtp_mock_process_serves_health_and_a_round_trip_then_exits_on_sigterm(
    start_mock_process: Callable[..., Any], http: requests.Session
) -> None:
    mock = start_mock_process(
        "mocks.smtp", "--host", "127.0.0.1", "--smtp-port", "0", "--http-port", "0"
    )
    smtp_port, http_url = mock.ready["smtp_port"], mock.ready["http_url"]

    health = http.get(http_url + "/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["smtp"]["listening"] is True

    msg = EmailMessage()
    msg["From"] = "notifier@sandbox.local"
    msg["To"] = "dave@example.com"
    msg["Subject"] = "Appointment cancelled"
    msg.set_content("Sorry.")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.send_message(msg)
    listed = http.get(http_url + "/api/messages", timeout=5).json()
    assert [m["subject"] for m in listed["messages"]] == ["Appointment cancelled"]

    assert mock.stop() == 0
    assert not mock.accepts_connections("127.0.0.1", smtp_port)
    assert not mock.accepts_connections("127.0.0.1", mock.ready["http_port"])
