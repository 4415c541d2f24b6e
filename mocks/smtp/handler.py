"""aiosmtpd handler: applies refuse mode to MAIL/RCPT/DATA and captures accepted mail."""

from __future__ import annotations

import logging
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mocks.smtp.message import parse_message
from mocks.smtp.refusal import RefusePolicy
from mocks.smtp.store import MessageStore

log = logging.getLogger(__name__)


class CaptureHandler:
    """Store every accepted message; refuse when the policy says so."""

    def __init__(self, store: MessageStore, refuse: RefusePolicy) -> None:
        self.store = store
        self.refuse = refuse

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Accept the sender unless refusing at the MAIL stage."""
        refusal = self.refuse.take("mail")
        if refusal:
            return refusal
        # Overriding the hook means doing what aiosmtpd's default would have done.
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept the recipient unless refusing at the RCPT stage."""
        refusal = self.refuse.take("rcpt")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Capture the message unless refusing at the DATA stage."""
        refusal = self.refuse.take("data")
        if refusal:
            return refusal
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape")
        peer = session.peer
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
        message = parse_message(raw, envelope.mail_from or "", envelope.rcpt_tos, peer_text)
        self.store.add(message)
        log.debug("captured %s from %s to %s", message.id, message.mail_from, message.rcpt_tos)
        return "250 Message accepted for delivery"


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accept every AUTH attempt, so senders configured with credentials still work."""
    return AuthResult(success=True)
