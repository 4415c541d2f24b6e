"""Parsing and storage of captured mail, without sockets."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mocks.smtp.message import parse_message
from mocks.smtp.refusal import RefuseMode, RefusePolicy
from mocks.smtp.store import MessageFilter, MessageStore


def raw_mail(subject: str = "Hi") -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com"
    msg["Subject"] = subject
    msg.set_content("text body")
    msg.add_alternative("<p>html body</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="r.pdf")
    return msg.as_bytes()


def test_encoded_subject_is_decoded() -> None:
    captured = parse_message(raw_mail("Réservation confirmée"), "a@example.com", ["b@example.com"])

    assert captured.subject == "Réservation confirmée"


def test_attachments_are_described_and_bodies_still_found() -> None:
    captured = parse_message(raw_mail(), "a@example.com", ["b@example.com"])

    assert captured.text is not None and captured.text.strip() == "text body"
    assert captured.html is not None and captured.html.strip() == "<p>html body</p>"
    assert [(a.filename, a.content_type) for a in captured.attachments] == [
        ("r.pdf", "application/pdf")
    ]


def test_html_only_mail_has_no_text_part() -> None:
    raw = b"Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>hi</b>\r\n"

    captured = parse_message(raw, "a@example.com", ["b@example.com"])

    assert captured.text is None
    assert captured.html == "<b>hi</b>\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not a mail at all",
        b"Subject: =?bogus?q?x?=\r\nContent-Type: text/plain; charset=nope\r\n\r\n\xff\xfe",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"To: <<<@@@>>>\r\nFrom: \r\n\r\nbody",
    ],
)
def test_malformed_mail_is_still_captured(raw: bytes) -> None:
    captured = parse_message(raw, "a@example.com", ["b@example.com"])

    assert captured.raw == raw
    assert captured.summary()["size"] == len(raw)


def test_store_drops_the_oldest_beyond_its_cap() -> None:
    store = MessageStore(max_messages=2)
    for n in range(3):
        store.add(parse_message(raw_mail(f"m{n}"), "a@example.com", ["b@example.com"]))

    assert [m.subject for m in store.list()] == ["m1", "m2"]
    assert store.stats()["dropped_total"] == 1


def test_header_filter_matches_name_case_insensitively_and_value_exactly() -> None:
    captured = parse_message(b"X-Correlation-Id: abc\r\n\r\n", "a@example.com", ["b@example.com"])

    assert MessageFilter(headers=(("x-correlation-id", "abc"),)).matches(captured)
    assert not MessageFilter(headers=(("X-Correlation-Id", "ab"),)).matches(captured)


def test_refuse_policy_only_refuses_its_stage() -> None:
    policy = RefusePolicy()
    policy.set(RefuseMode(enabled=True, code=451, message="later", stage="rcpt"))

    assert policy.take("data") is None
    assert policy.take("rcpt") == "451 later"
