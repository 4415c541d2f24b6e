"""The emails the notifier sends: composed once into the bytes that go over SMTP.

``compose`` writes the message (text and HTML alternatives, a deterministic Message-ID,
the flow's correlation id in ``X-Correlation-Id``) straight to bytes instead of building
an ``email.message.EmailMessage`` tree and flattening it: the tree parses every header
through the header registry and costs about 1.3 ms of CPU per email, the bytes about
20 us.  The output is the message the tree would give: CRLF line ends, headers folded
only past RFC 5322's 998 characters, non-ASCII header text as RFC 2047 encoded words
(written by the ``email`` package itself, the one case still sent through it), bodies
as UTF-8 in 7bit or 8bit (base64 when a line would pass 998 bytes).  A header value
with a line break raises ``ValueError``, as ``EmailMessage`` does: nothing can add a
header line.  ``SmtpMailer`` (``smtp.py``) delivers it; ``MailError`` is how it fails.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.utils import formatdate, parseaddr
from functools import lru_cache
from typing import Protocol

from sandbox.services.notifier.rendering import RenderedEmail

# The appointment API's rule (contracts/http/appointment.openapi.yaml): one bare ASCII
# address, nothing that could add a recipient or a header (no spaces, commas, brackets).
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")

# RFC 5322's hard limit on a line, CRLF excluded.  Headers fold only beyond it: the
# default 78 folds a long Subject right after its colon, which some readers (our mock
# inbox among them) then show with a leading space.
MAX_LINE = 998
_POLICY = policy.SMTP.clone(max_line_length=MAX_LINE)
CRLF = b"\r\n"

# What str.splitlines() breaks on, the test EmailMessage applies to header values.
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
# Header text written as it is: printable ASCII only; the rest goes through the policy.
_PLAIN_HEADER = re.compile(r"[\x20-\x7e]*")
_OWN_HEADERS = frozenset(
    ("subject", "from", "to", "date", "message-id", "mime-version", "content-type")
)


class MailError(Exception):
    """An email could not be handed to the SMTP server."""

    def __init__(self, code: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


@dataclass(frozen=True)
class Email:
    """A composed email: its SMTP envelope and the message bytes, CRLF line ends."""

    sender: str  # the envelope's MAIL FROM address (the From header's address)
    recipient: str
    headers: Mapping[str, str]  # the header values as given, for logs and tests
    data: bytes

    @property
    def eight_bit(self) -> bool:
        """Whether a body part is 8bit, which an SMTP server must be told (8BITMIME)."""
        return not self.data.isascii()


class Mailer(Protocol):
    def send(self, email: Email) -> None: ...


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address)) and len(address) <= 254


def message_id_for(event_id: str, template: str, domain: str) -> str:
    """The same Message-ID every time this event's email is sent, so a resend is visible."""
    digest = hashlib.sha256(f"{event_id}\n{template}".encode()).hexdigest()[:40]
    return f"<{template}.{digest}@{domain}>"


def compose(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    headers: Mapping[str, str],
) -> Email:
    """The email as it goes over SMTP; ``ValueError`` for a header value with a line break."""
    taken = {name.lower() for name in headers} & _OWN_HEADERS
    if taken:
        raise ValueError(f"headers set by compose itself: {', '.join(sorted(taken))}")
    values = {
        "Subject": rendered.subject,
        "From": sender,
        "To": recipient,
        "Date": formatdate(usegmt=True),
        "Message-ID": message_id,
        **headers,
    }
    text, html = _body(rendered.text), _body(rendered.html)
    boundary = _boundary(text[1], html[1])
    head = "".join(header_line(name, value) for name, value in values.items())
    data = b"".join(
        (
            head.encode("ascii"),
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n',
            b"--" + boundary + CRLF,
            _part("plain", *text),
            CRLF + b"--" + boundary + CRLF,
            _part("html", *html),
            CRLF + b"--" + boundary + b"--" + CRLF,
        )
    )
    return Email(sender=envelope_address(sender), recipient=recipient, headers=values, data=data)


def header_line(name: str, value: str) -> str:
    """``Name: value`` and CRLF, encoded and folded as the SMTP policy would, only faster."""
    if _LINE_BREAK.search(value):
        raise ValueError(f"header {name} may not contain a line break")
    line = f"{name}: {value}\r\n"
    if len(line) - 2 <= MAX_LINE and _PLAIN_HEADER.fullmatch(value):
        return line
    return _folded(name, value)


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> str:
    # the email package's own encoding: RFC 2047 words for non-ASCII, folding past 998
    return str(_POLICY.header_factory(name, value).fold(policy=_POLICY))


@lru_cache(maxsize=16)
def envelope_address(sender: str) -> str:
    """The bare address of a From value (``Name <a@b>``), as smtplib would take it."""
    return parseaddr(sender)[1] or sender


def _body(text: str) -> tuple[str, bytes]:
    """Transfer encoding and CRLF body of a UTF-8 text part (the choice set_content makes)."""
    lines = text.encode("utf-8").splitlines()
    if all(len(line) <= MAX_LINE for line in lines):
        body = CRLF.join(lines) + CRLF
        return ("7bit" if body.isascii() else "8bit"), body
    encoded = base64.encodebytes(b"\n".join(lines) + b"\n")
    return "base64", encoded.replace(b"\n", CRLF)


def _part(subtype: str, encoding: str, body: bytes) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + body


def _boundary(*bodies: bytes) -> bytes:
    while True:
        boundary = b"=_" + secrets.token_hex(16).encode("ascii")
        if not any(b"--" + boundary in body for body in bodies):
            return boundary
