"""Refuse mode, as seen by smtplib, and the control API that sets it."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import requests

from mocks.smtp.server import MockSmtpServer

pytestmark = pytest.mark.integration


def mail() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "notifier@sandbox.local"
    msg["To"] = "carol@example.com"
    msg["Subject"] = "Refund processed"
    msg.set_content("Your refund is on its way.")
    return msg


def send(server: MockSmtpServer) -> None:
    with smtplib.SMTP(server.settings.host, server.smtp_port, timeout=10) as client:
        client.send_message(mail())


def refuse(http: requests.Session, server: MockSmtpServer, **body: object) -> requests.Response:
    return http.post(server.http_url + "/_control/refuse", json=body)


def stored(server: MockSmtpServer) -> int:
    return len(server.store.list())


def test_refused_data_raises_smtp_response_exception_until_recovered(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    response = refuse(http, smtp_server, enabled=True, code=451, message="4.3.0 try later")
    assert response.status_code == 200, response.text

    with pytest.raises(smtplib.SMTPResponseException) as refused:
        send(smtp_server)
    assert (refused.value.smtp_code, refused.value.smtp_error) == (451, b"4.3.0 try later")
    assert stored(smtp_server) == 0

    assert refuse(http, smtp_server, enabled=False).json()["refuse"]["enabled"] is False
    send(smtp_server)
    assert stored(smtp_server) == 1


def test_refuse_with_count_turns_itself_off_after_that_many(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    refuse(http, smtp_server, enabled=True, code=554, count=2)

    outcomes: list[int | str] = []
    for _ in range(3):
        try:
            send(smtp_server)
            outcomes.append("sent")
        except smtplib.SMTPDataError as error:
            outcomes.append(error.smtp_code)

    assert outcomes == [554, 554, "sent"]
    control = http.get(smtp_server.http_url + "/_control").json()["refuse"]
    assert control["enabled"] is False
    assert control["refused_total"] == 2


def test_refuse_at_mail_stage_raises_sender_refused(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    refuse(http, smtp_server, enabled=True, stage="mail", code=550, message="5.7.1 no")

    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(smtp_server)
    assert refused.value.smtp_code == 550


def test_refuse_at_rcpt_stage_refuses_every_recipient(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    refuse(http, smtp_server, enabled=True, stage="rcpt", code=450)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_server)
    assert refused.value.recipients["carol@example.com"][0] == 450


def test_health_shows_refuse_mode(smtp_server: MockSmtpServer, http: requests.Session) -> None:
    refuse(http, smtp_server, enabled=True, code=452, stage="data", count=1)

    health = http.get(smtp_server.http_url + "/health").json()

    assert health["refuse"]["enabled"] is True
    assert health["refuse"]["code"] == 452
    assert health["refuse"]["remaining"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": 451}, "enabled"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": True, "code": 250}, "code"),
        ({"enabled": True, "code": True}, "code"),
        ({"enabled": True, "message": "two\r\nlines"}, "message"),
        ({"enabled": True, "message": "   "}, "message"),
        ({"enabled": True, "stage": "quit"}, "stage"),
        ({"enabled": True, "count": 0}, "count"),
        ({"enabled": True, "colour": "red"}, "colour"),
    ],
)
def test_bad_refuse_fields_are_a_400_naming_the_field(
    smtp_server: MockSmtpServer, http: requests.Session, body: dict, field: str
) -> None:
    response = refuse(http, smtp_server, **body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert http.get(smtp_server.http_url + "/_control").json()["refuse"]["enabled"] is False


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_refuse_body_that_is_not_a_json_object_is_a_400(
    smtp_server: MockSmtpServer, http: requests.Session, raw: bytes
) -> None:
    response = http.post(
        smtp_server.http_url + "/_control/refuse",
        data=raw,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
