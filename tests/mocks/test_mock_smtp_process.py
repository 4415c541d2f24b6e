"""``python -m mocks.smtp`` as its own OS process: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def send_mail(smtp_port: int) -> None:
    msg = EmailMessage()
    msg["From"] = "notifier@sandbox.local"
    msg["To"] = "dave@example.com"
    msg["Subject"] = "Appointment cancelled"
    msg.set_content("Sorry.")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.send_message(msg)


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

    send_mail(smtp_port)
    listed = http.get(http_url + "/api/messages", timeout=5).json()
    assert [m["subject"] for m in listed["messages"]] == ["Appointment cancelled"]

    assert mock.stop() == 0
    assert not mock.accepts_connections("127.0.0.1", smtp_port)
    assert not mock.accepts_connections("127.0.0.1", mock.ready["http_port"])


@pytest.mark.parametrize(
    ("env", "logged"),
    [({}, False), ({"MOCK_SMTP_AIOSMTPD_LOG_LEVEL": "INFO"}, True)],
    ids=["default-warning", "info"],
)
def test_aiosmtpd_logs_each_session_only_when_its_level_is_info(
    start_mock_process: Callable[..., Any], env: dict[str, str], logged: bool
) -> None:
    mock = start_mock_process("mocks.smtp", "--smtp-port", "0", "--http-port", "0", env=env)

    send_mail(mock.ready["smtp_port"])
    assert mock.stop() == 0

    session_lines = [line for line in mock.log().splitlines() if " INFO mail.log " in line]
    assert bool(session_lines) is logged, mock.log()[-2000:]
