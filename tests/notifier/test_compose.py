"""The composed email's bytes: what a mail reader decodes from them, and what they refuse."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from sandbox.services.notifier.mailer import Email, compose
from sandbox.services.notifier.rendering import RenderedEmail

SENDER = "Appointments <notifications@payment-sandbox.local>"
HEADERS = {"X-Correlation-Id": "flow-1", "X-Event-Id": "evt-1", "X-Notification-Template": "t"}
RENDERED = RenderedEmail(
    subject="Payment received: 75.10 USD",
    text="Hello Jane,\n\nThank you.\n.\n-- \nSupport\n",
    html="<p>Hello Jane &lt;script&gt;,</p>\n<p>Thank you.</p>\n",
)


def composed(rendered: RenderedEmail = RENDERED, sender: str = SENDER, **headers: str) -> Email:
    return compose(
        rendered,
        sender=sender,
        recipient="jane@example.com",
        message_id="<t.abc@payment-sandbox.local>",
        headers=headers or HEADERS,
    )


def parsed(mail: Email) -> EmailMessage:
    message = email.message_from_bytes(mail.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML alternatives, with the CRLF line ends of the wire read as \\n."""
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_email_reads_back_with_its_headers_and_both_alternatives() -> None:
    mail = composed()
    message = parsed(mail)
    assert message["Subject"] == RENDERED.subject
    assert message["From"] == SENDER
    assert message["To"] == "jane@example.com"
    assert message["Message-ID"] == "<t.abc@payment-sandbox.local>"
    assert message["Date"] is not None
    for name, value in HEADERS.items():
        assert message[name] == value
    assert message.get_content_type() == "multipart/alternative"
    assert parts(message) == (RENDERED.text, RENDERED.html)
    assert message.defects == []
    assert (mail.sender, mail.recipient) == ("notifications@payment-sandbox.local", mail.recipient)


def test_every_line_ends_in_crlf_and_none_passes_998_characters() -> None:
    subject = "S" * 900
    mail = composed(RenderedEmail(subject=subject, text="a\n", html="<p>b</p>\n"))
    lines = mail.data.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    assert f"Subject: {subject}\r\n".encode() in mail.data  # not folded below the limit


def test_reads_the_same_as_the_email_message_it_replaces() -> None:
    reference = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    for name, value in {"Subject": RENDERED.subject, "From": SENDER, **HEADERS}.items():
        reference[name] = value
    reference.set_content(RENDERED.text)
    reference.add_alternative(RENDERED.html, subtype="html")
    expected = email.message_from_bytes(reference.as_bytes(), policy=policy.default)
    assert isinstance(expected, EmailMessage)

    message = parsed(composed())

    for name in ("Subject", "From", *HEADERS):
        assert message[name] == expected[name]
    assert parts(message) == parts(expected)
    for subtype in ("plain", "html"):
        ours, theirs = message.get_body((subtype,)), expected.get_body((subtype,))
        assert ours is not None and theirs is not None
        assert ours["Content-Type"] == theirs["Content-Type"]
        assert ours["Content-Transfer-Encoding"] == theirs["Content-Transfer-Encoding"]


def test_non_ascii_subject_and_sender_name_travel_as_encoded_words() -> None:
    rendered = RenderedEmail(
        subject="Rendez-vous confirmé pour Zoë: Massage", text="Zoë\n", html="<p>Zoë</p>\n"
    )
    mail = composed(rendered, sender="Clinique Zoë <rdv@clinique.example>")
    head = mail.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    message = parsed(mail)
    assert message["Subject"] == rendered.subject
    assert message["From"] == "Clinique Zoë <rdv@clinique.example>"
    assert parts(message) == (rendered.text, rendered.html)
    assert mail.eight_bit  # the bodies are 8bit UTF-8
    assert mail.sender == "rdv@clinique.example"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("X-Correlation-Id", "flow-1\r\nBcc: victim@example.com"),
        ("X-Event-Id", "evt-1\nBcc: victim@example.com"),
        ("X-Event-Id", "evt-1\rBcc: victim@example.com"),
        ("X-Event-Id", "evt-1\u2028Bcc: victim@example.com"),
    ],
)
def test_a_header_value_with_a_line_break_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        composed(**{**HEADERS, field: value})


def test_a_subject_with_a_line_break_is_refused() -> None:
    rendered = RenderedEmail(subject="Hi\r\nBcc: victim@example.com", text="a\n", html="b\n")
    with pytest.raises(ValueError, match="line break"):
        composed(rendered)


def test_a_passed_header_cannot_replace_one_compose_sets() -> None:
    with pytest.raises(ValueError, match="to"):
        composed(**{**HEADERS, "To": "victim@example.com"})


def test_a_body_line_past_998_bytes_is_sent_base64_and_reads_back_whole() -> None:
    long_line = "é" * 600 + "\n"  # 1,200 bytes of UTF-8
    mail = composed(RenderedEmail(subject="s", text=long_line, html="<p>x</p>\n"))
    assert max(len(line) for line in mail.data.split(b"\r\n")) <= 998
    assert b"Content-Transfer-Encoding: base64" in mail.data
    assert parts(parsed(mail))[0] == long_line
