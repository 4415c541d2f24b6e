"""``python -m mocks.merchant`` as its own OS process: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import requests

from sandbox.signing import sign

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_merchant_mock_process_serves_health_and_a_round_trip_then_exits_on_sigterm(
    start_mock_process: Callable[..., Any], http: requests.Session
) -> None:
    mock = start_mock_process(
        "mocks.merchant",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        env={"MOCK_MERCHANT_SECRET": "s3cr3t"},
    )
    url = mock.ready["url"]

    health = http.get(url + "/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["service"] == "mock-merchant"

    body = json.dumps({"paymentId": "pay_p", "eventId": "evt_p"}).encode()
    accepted = http.post(
        mock.ready["callback_url"],
        data=body,
        headers={"X-Merchant-Signature": sign("s3cr3t", body)},
        timeout=5,
    )
    assert accepted.status_code == 200, accepted.text
    listed = http.get(url + "/callbacks", params={"paymentId": "pay_p"}, timeout=5).json()
    assert [r["outcome"] for r in listed["callbacks"]] == ["accepted"]

    assert mock.stop() == 0
    assert not mock.accepts_connections("127.0.0.1", mock.ready["port"])


def test_merchant_mock_process_prints_its_generated_secret(
    start_mock_process: Callable[..., Any],
) -> None:
    mock = start_mock_process("mocks.merchant", "--port", "0")

    assert len(mock.ready["secret"]) >= 32
    assert mock.stop() == 0


def test_merchant_mock_takes_no_secret_on_its_command_line() -> None:
    """A command line is public (ps, /proc): the secret is an environment variable only."""
    refused = subprocess.run(
        [sys.executable, "-m", "mocks.merchant", "--port", "0", "--secret", "s3cr3t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2
    assert "unrecognized arguments: --secret" in refused.stderr
