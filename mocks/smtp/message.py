"""One captured mail: the SMTP envelope, the raw bytes and what a test wants to read from them.

Parsing happens once, the first time anything reads the mail (not while the sender waits
for the reply to DATA: the email package's header parsing costs several milliseconds of
CPU per mail, which under load is the mock's main cost), and never raises: a malformed
mail is still captured (a mock that drops odd mail would hide the very bugs it is there
to show), with whatever could be decoded.
"""

from __future__ import annotations

import email
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME part, described but not kept apart from the raw mail."""

    filename: str | None
    content_type: str
    size: int


@dataclass(frozen=True)
class Parsed:
    """What the email package decoded from the raw bytes."""

    headers: tuple[tuple[str, str], ...]
    subject: str
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]


@dataclass(frozen=True)
class CapturedMessage:
    """A mail as received: envelope and raw bytes; decoded headers and bodies on demand."""

    id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_at: datetime
    peer: str = ""

    @cached_property
    def parsed(self) -> Parsed:
        return _parse(self.raw)

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.parsed.headers

    @property
    def subject(self) -> str:
        return self.parsed.subject

    @property
    def text(self) -> str | None:
        return self.parsed.text

    @property
    def html(self) -> str | None:
        return self.parsed.html

    @property
    def attachments(self) -> tuple[Attachment, ...]:
        return self.parsed.attachments

    @property
    def defects(self) -> tuple[str, ...]:
        return self.parsed.defects

    def header_values(self, name: str) -> list[str]:
        """Return every value of header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def headers_by_name(self) -> dict[str, list[str]]:
        """Group header values by name, keeping the first spelling of each name."""
        grouped: dict[str, list[str]] = {}
        spelling: dict[str, str] = {}
        for key, value in self.headers:
            grouped.setdefault(spelling.setdefault(key.lower(), key), []).append(value)
        return grouped

    def summary(self) -> dict[str, Any]:
        """Return the JSON shape used in lists."""
        return {
            "id": self.id,
            "from": self.mail_from,
            "to": list(self.rcpt_tos),
            "subject": self.subject,
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "size": len(self.raw),
            "headers": self.headers_by_name(),
        }

    def detail(self) -> dict[str, Any]:
        """Return the JSON shape of one message, with bodies and raw source."""
        return {
            **self.summary(),
            "text": self.text,
            "html": self.html,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in self.attachments
            ],
            "peer": self.peer,
            "defects": list(self.defects),
            # The exact bytes are at /raw; JSON cannot carry undecodable bytes.
            "raw": self.raw.decode("utf-8", errors="replace"),
        }


def parse_message(
    raw: bytes,
    mail_from: str,
    rcpt_tos: list[str] | tuple[str, ...],
    peer: str = "",
    received_at: datetime | None = None,
) -> CapturedMessage:
    """Capture ``raw`` as a CapturedMessage (parsed when first read; never raises)."""
    return CapturedMessage(
        id=uuid.uuid4().hex,
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        raw=raw,
        received_at=received_at or datetime.now(UTC),
        peer=peer,
    )


def _parse(raw: bytes) -> Parsed:
    msg = email.message_from_bytes(raw, policy=policy.default)
    headers = tuple((name, _header_value(msg, name, value)) for name, value in msg.raw_items())
    subject = next((value for name, value in headers if name.lower() == "subject"), "")
    return Parsed(
        headers=headers,
        subject=subject,
        text=_body(msg, "plain"),
        html=_body(msg, "html"),
        attachments=_attachments(msg),
        defects=tuple(type(d).__name__ for d in msg.defects),
    )


def _header_value(msg: Message, name: str, raw_value: str) -> str:
    """Decode one header (RFC 2047 words, folding); fall back to the raw text."""
    try:
        return str(msg.policy.header_fetch_parse(name, raw_value))
    except Exception:  # the email package raises assorted errors on hostile headers
        return " ".join(raw_value.split())


def _body(msg: Message, subtype: str) -> str | None:
    """Return the decoded text/<subtype> body part, or None when there is none."""
    if not isinstance(msg, EmailMessage):
        return None
    try:
        part = msg.get_body(preferencelist=(subtype,))
    except Exception:
        return None
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        content = part.get_content()
    except Exception:  # unknown charset or broken transfer encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else None
    return content if isinstance(content, str) else None


def _attachments(msg: Message) -> tuple[Attachment, ...]:
    """Describe the parts that are not the text or HTML body."""
    if not isinstance(msg, EmailMessage) or not msg.is_multipart():
        return ()
    found = []
    try:
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            found.append(Attachment(part.get_filename(), part.get_content_type(), size))
    except Exception:
        pass
    return tuple(found)
