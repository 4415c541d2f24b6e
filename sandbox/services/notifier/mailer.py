"""Emails over SMTP with the standard library's smtplib.

``compose`` builds the MIME message (text and HTML alternatives, a deterministic
Message-ID, the flow's correlation id in ``X-Correlation-Id``); ``SmtpMailer.send``
delivers it to the configured server and turns every failure into ``MailError`` with a
code and whether retrying can help (SMTP 5xx replies cannot; 4xx replies, refused
connections and timeouts can).
"""

from __future__ import annotations

import hashlib
import re
import smtplib
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from sandbox.services.notifier.rendering import RenderedEmail
from sandbox.services.notifier.settings import SmtpSettings

# The appointment API's rule (contracts/http/appointment.openapi.yaml): one bare ASCII
# address, nothing that could add a recipient or a header (no spaces, commas, brackets).
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


# CRLF line ends as SMTP wants them.  Headers fold only beyond RFC 5322's hard limit:
# the default 78 folds a long Subject right after its colon, which some readers (our mock
# inbox among them) then show with a leading space.
_POLICY = policy.SMTP.clone(max_line_length=998)


class MailError(Exception):
    """An email could not be handed to the SMTP server."""

    def __init__(self, code: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


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
) -> EmailMessage:
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _reply(code: int, text: bytes | str) -> str:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"SMTP server replied {code} {' '.join(detail.split())}"[:500]


class SmtpMailer:
    """Sends each message on a new SMTP connection to the configured server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    @property
    def server(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def send(self, message: EmailMessage) -> None:
        s = self._settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
                if s.starttls:
                    smtp.starttls()
                if s.username and s.password:
                    smtp.login(s.username, s.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # Not an SMTPResponseException: one (code, reply) per refused recipient.
            code, text = next(iter(exc.recipients.values()), (451, b"refused"))
            raise MailError("SMTP_REFUSED", _reply(code, text), permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            message_text = _reply(exc.smtp_code, exc.smtp_error)
            raise MailError("SMTP_REFUSED", message_text, permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                "SMTP_UNAVAILABLE",
                f"cannot deliver to SMTP server {self.server}: {type(exc).__name__}",
                permanent=False,
            ) from exc
