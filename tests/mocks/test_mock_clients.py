"""The mocks' clients (``mocks.clients``) against real mocks: one shape of control for all three.

Every mock shows its injected faults at ``GET /_control``, turns them all off with
``clear_faults()`` while keeping what it recorded, and forgets everything with
``reset()``; each client also drives its mock's own faults and reads its records.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
import requests

from mocks.clients import MerchantClient, MockClient, MockError, ProviderClient, SmtpClient
from mocks.common.server import WsgiThread
from mocks.merchant.server import MockMerchantServer
from mocks.provider import Provider, ProviderSettings, create_app
from mocks.smtp.server import MockSmtpServer
from sandbox.signing import sign

pytestmark = pytest.mark.integration


@pytest.fixture
def provider_url() -> Iterator[str]:
    """A mock provider served in this process on a free port."""
    settings = ProviderSettings(seed=7)
    provider = Provider(settings)
    server = WsgiThread(create_app(settings, provider), "127.0.0.1", 0, "test-provider")
    provider.start()
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        provider.stop()


def send_mail(server: MockSmtpServer, subject: str = "Payment received") -> None:
    msg = EmailMessage()
    msg["From"] = "notifier@sandbox.local"
    msg["To"] = "frank@example.com"
    msg["Subject"] = subject
    msg["X-Correlation-Id"] = "corr-client"
    msg.set_content("Thanks.")
    with smtplib.SMTP(server.settings.host, server.smtp_port, timeout=10) as client:
        client.send_message(msg)


def post_callback(server: MockMerchantServer, payment_id: str) -> requests.Response:
    body = f'{{"paymentId": "{payment_id}", "eventId": "evt_{payment_id}"}}'.encode()
    headers = {"X-Merchant-Signature": sign(server.settings.secret, body)}
    return requests.post(server.callback_url, data=body, headers=headers, timeout=10)


@dataclass(frozen=True)
class Mock:
    """How to reach one kind of mock, inject one fault and see it at /_control."""

    client: Callable[[Any], MockClient]
    inject: Callable[[Any], object]
    faulty: Callable[[dict[str, Any]], bool]


MOCKS = {
    "smtp": Mock(
        lambda server: SmtpClient(server.http_url),
        lambda client: client.refuse(code=451),
        lambda control: control["refuse"]["enabled"],
    ),
    "merchant": Mock(
        lambda server: MerchantClient(server.url),
        lambda client: client.fail(503),
        lambda control: control["fail"]["mode"] != "off",
    ),
    "provider": Mock(
        ProviderClient,
        lambda client: client.add_fault(path="/v1/**", error={"status": 500}),
        lambda control: bool(control["faults"]),
    ),
}


@pytest.fixture(params=list(MOCKS))
def each_mock(
    request: pytest.FixtureRequest,
    smtp_server: MockSmtpServer,
    merchant: MockMerchantServer,
    provider_url: str,
) -> tuple[Mock, MockClient]:
    mock = MOCKS[request.param]
    served = {"smtp": smtp_server, "merchant": merchant, "provider": provider_url}
    return mock, mock.client(served[request.param])


def test_every_mock_shows_its_faults_at_control_and_clears_them_the_same_way(
    each_mock: tuple[Mock, MockClient],
) -> None:
    mock, client = each_mock
    assert not mock.faulty(client.control())

    mock.inject(client)
    assert mock.faulty(client.control())

    assert not mock.faulty(client.clear_faults())
    assert not mock.faulty(client.control())
    assert client.health()["status"] == "ok"


def test_the_smtp_client_refuses_accepts_reads_and_resets(smtp_server: MockSmtpServer) -> None:
    inbox = SmtpClient(smtp_server.http_url)

    inbox.refuse(code=452, message="4.3.1 full", count=1)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send_mail(smtp_server)
    assert refused.value.smtp_code == 452
    send_mail(smtp_server, "Second try")

    [mail] = inbox.messages(header="X-Correlation-Id:corr-client", to="frank@")
    assert mail["subject"] == "Second try"
    assert inbox.message(mail["id"])["text"].strip() == "Thanks."
    assert inbox.accept()["refuse"]["refused_total"] == 1

    inbox.refuse(code=451)
    inbox.reset()
    assert inbox.messages() == []
    assert inbox.control()["refuse"]["enabled"] is False


def test_the_merchant_client_fails_accepts_reads_and_resets(
    merchant: MockMerchantServer,
) -> None:
    client = MerchantClient(merchant.url)

    client.fail(503, count=1)
    assert post_callback(merchant, "pay_c1").status_code == 503
    assert post_callback(merchant, "pay_c1").status_code == 200
    client.fail(500)
    assert post_callback(merchant, "pay_c2").status_code == 500
    client.accept()
    assert post_callback(merchant, "pay_c2").status_code == 200

    outcomes = [c["outcome"] for c in client.callbacks(paymentId="pay_c1")]
    assert outcomes == ["failed", "accepted"]
    [accepted] = client.callbacks(paymentId="pay_c2", outcome="accepted")
    assert client.callback(accepted["id"])["payment_id"] == "pay_c2"
    assert client.delay(5)["latency"]["delay_ms"] == 5

    client.reset()
    assert client.callbacks() == []
    assert client.control()["latency"]["delay_ms"] == 0


def test_the_provider_client_drives_faults_webhooks_clock_and_reset(provider_url: str) -> None:
    provider = ProviderClient(provider_url)

    rule = provider.add_fault(path="/v1/refunds", error={"status": 502})
    assert [r["id"] for r in provider.faults()] == [rule["id"]]
    provider.remove_fault(rule["id"])
    assert provider.faults() == []

    provider.webhook_faults(loss={"probability": 1})
    assert provider.webhooks()["faults"]["loss"]["probability"] == 1
    assert provider.control()["webhooks"]["loss"]["probability"] == 1
    provider.clear_webhook_faults()

    assert provider.set_clock(2_000_000_000)["now"] >= 2_000_000_000
    assert provider.advance_clock(-1_000_000)["now"] < 2_000_000_000
    assert abs(provider.real_time()["offset_s"]) < 1
    provider.reseed(11)
    assert provider.control()["seed"] == 11
    assert provider.deliveries(status="delivered") == []

    provider.add_fault(path="/v1/**", hang_s=1)
    provider.reset(seed=3)
    assert provider.control()["faults"] == [] and provider.control()["seed"] == 3


def test_a_refused_call_raises_a_mock_error_with_the_mocks_answer(
    smtp_server: MockSmtpServer,
) -> None:
    with pytest.raises(MockError) as refused:
        SmtpClient(smtp_server.http_url).refuse(code=250)

    assert refused.value.status == 400
    assert "POST /_control/refuse: HTTP 400" in str(refused.value)
    assert '"field":"code"' in str(refused.value).replace(" ", "")


def test_the_smtp_control_api_still_answers_at_its_first_path(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    old = smtp_server.http_url + "/api/control"

    turned_on = http.post(old + "/refuse", json={"enabled": True, "code": 451}, timeout=5)

    assert turned_on.status_code == 200
    assert http.get(old, timeout=5).json() == SmtpClient(smtp_server.http_url).control()
    assert http.get(old, timeout=5).json()["refuse"]["enabled"] is True
