"""Mock SMTP over real sockets: smtplib sends, the HTTP inbox shows what arrived."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import requests

from mocks.smtp.server import MockSmtpServer

pytestmark = pytest.mark.integration


def make_mail(
    to: str = "alice@example.com",
    subject: str = "Your appointment is confirmed",
    correlation_id: str = "corr-1",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "notifier@sandbox.local"
    msg["To"] = to
    msg["Subject"] = subject
    msg["X-Correlation-Id"] = correlation_id
    msg.set_content("Hello Alice, see you at 10:00.")
    msg.add_alternative("<p>Hello <b>Alice</b>, see you at 10:00.</p>", subtype="html")
    return msg


def send(server: MockSmtpServer, msg: EmailMessage) -> None:
    with smtplib.SMTP(server.settings.host, server.smtp_port, timeout=10) as client:
        client.send_message(msg)


def inbox(http: requests.Session, server: MockSmtpServer, **params: str) -> list[dict]:
    response = http.get(server.http_url + "/api/messages", params=params)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def test_sent_mail_is_listed_with_envelope_and_subject(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    send(smtp_server, make_mail())

    [listed] = inbox(http, smtp_server)
    assert listed["from"] == "notifier@sandbox.local"
    assert listed["to"] == ["alice@example.com"]
    assert listed["subject"] == "Your appointment is confirmed"
    assert listed["headers"]["X-Correlation-Id"] == ["corr-1"]


def test_message_detail_has_both_parts_headers_and_raw_source(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    send(smtp_server, make_mail(subject="Paiement réussi ✓"))
    [listed] = inbox(http, smtp_server)

    detail = http.get(f"{smtp_server.http_url}/api/messages/{listed['id']}").json()
    assert detail["subject"] == "Paiement réussi ✓"
    assert detail["text"].strip() == "Hello Alice, see you at 10:00."
    assert detail["html"].strip() == "<p>Hello <b>Alice</b>, see you at 10:00.</p>"
    assert "multipart/alternative" in detail["headers"]["Content-Type"][0]
    assert "X-Correlation-Id: corr-1" in detail["raw"]


def test_raw_endpoint_returns_the_exact_bytes_received(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    msg = make_mail()
    send(smtp_server, msg)
    [listed] = inbox(http, smtp_server)

    raw = http.get(f"{smtp_server.http_url}/api/messages/{listed['id']}/raw")
    assert raw.headers["Content-Type"] == "message/rfc822"
    assert raw.content == smtp_server.store.get(listed["id"]).raw  # type: ignore[union-attr]
    assert b"Subject: Your appointment is confirmed" in raw.content


def test_messages_are_listed_oldest_first(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    for n in range(3):
        send(smtp_server, make_mail(subject=f"mail {n}"))

    assert [m["subject"] for m in inbox(http, smtp_server)] == ["mail 0", "mail 1", "mail 2"]


def test_filters_by_recipient_subject_and_header(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    send(
        smtp_server, make_mail(to="alice@example.com", subject="Payment failed", correlation_id="a")
    )
    send(
        smtp_server, make_mail(to="bob@example.com", subject="Refund processed", correlation_id="b")
    )

    assert [m["to"] for m in inbox(http, smtp_server, to="BOB@")] == [["bob@example.com"]]
    assert [m["subject"] for m in inbox(http, smtp_server, subject="failed")] == ["Payment failed"]
    by_header = inbox(http, smtp_server, header="x-correlation-id:b")
    assert [m["subject"] for m in by_header] == ["Refund processed"]
    assert inbox(http, smtp_server, header="X-Correlation-Id:c") == []


def test_delete_all_empties_the_inbox(smtp_server: MockSmtpServer, http: requests.Session) -> None:
    send(smtp_server, make_mail())
    send(smtp_server, make_mail())

    response = http.delete(smtp_server.http_url + "/api/messages")

    assert response.json() == {"deleted": 2}
    assert inbox(http, smtp_server) == []


def test_delete_one_message_leaves_the_others(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    send(smtp_server, make_mail(subject="keep"))
    send(smtp_server, make_mail(subject="drop"))
    drop = inbox(http, smtp_server, subject="drop")[0]["id"]

    assert http.delete(f"{smtp_server.http_url}/api/messages/{drop}").status_code == 200
    assert [m["subject"] for m in inbox(http, smtp_server)] == ["keep"]


def test_unknown_message_id_is_a_404_json_error(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    response = http.get(smtp_server.http_url + "/api/messages/" + "0" * 32)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "message_not_found"


@pytest.mark.parametrize("item", ["no-colon", ":value", " \t:value", "\x1c{:[", "Subjéct:x"])
def test_malformed_header_filter_is_a_400_naming_the_field(
    smtp_server: MockSmtpServer, http: requests.Session, item: str
) -> None:
    response = http.get(smtp_server.http_url + "/api/messages", params={"header": item})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "header"


def test_header_filter_names_may_have_spaces_around_them(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    send(smtp_server, make_mail(correlation_id="spaced"))

    found = inbox(http, smtp_server, header=" X-Correlation-Id\t: spaced ")

    assert [m["headers"]["X-Correlation-Id"] for m in found] == [["spaced"]]


def test_login_with_any_credentials_is_accepted(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    with smtplib.SMTP(smtp_server.settings.host, smtp_server.smtp_port, timeout=10) as client:
        client.login("notifier", "whatever")
        client.send_message(make_mail())

    assert len(inbox(http, smtp_server)) == 1


def test_health_reports_listener_up_and_message_count(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    send(smtp_server, make_mail())

    health = http.get(smtp_server.http_url + "/health")

    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["smtp"] == {"listening": True, "host": "127.0.0.1", "port": smtp_server.smtp_port}
    assert body["messages"]["stored"] == 1
    assert body["refuse"]["enabled"] is False


def test_unknown_route_and_wrong_method_answer_json_errors(
    smtp_server: MockSmtpServer, http: requests.Session
) -> None:
    missing = http.get(smtp_server.http_url + "/nope")
    wrong = http.put(smtp_server.http_url + "/_control")

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
    assert wrong.json()["error"]["code"] == "method_not_allowed"
