"""Emails to the configured SMTP server with smtplib, over connections kept open.

Opening a connection costs the greeting, EHLO (STARTTLS and a second EHLO, AUTH when
configured) and QUIT: four round trips and most of smtplib's CPU for every email.
``SmtpMailer`` keeps the connections it opened in a small pool instead: a sending thread
takes one (or opens one when none is idle), sends with MAIL/RCPT/DATA, and puts it back,
so one connection serves each thread that sends at the same time.  A connection idle
for ``idle_timeout_s`` is closed with QUIT by a background thread, and all of them by
``close()``.

A server may close an idle connection whenever it likes (a timeout, a restart, a 421
"closing"), and the mailer finds out only on its next command.  So when a *reused*
connection turns out closed, the email is sent once more on a new connection before any
failure is reported.  Every other failure is reported as before, as ``MailError`` with a
code and whether retrying can help: SMTP 5xx replies cannot; 4xx replies, refused
connections and timeouts can.  After a refusal the server is still in a clean state
(smtplib sends RSET), so the connection stays in the pool; after anything else it is
dropped.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable

from sandbox.services.notifier.mailer import Email, MailError
from sandbox.services.notifier.settings import SmtpSettings

log = logging.getLogger(__name__)

# how a server that closed the connection shows itself to the next command
_HUNG_UP = (smtplib.SMTPServerDisconnected, ConnectionError)
_CLOSING = 421  # "service not available, closing transmission channel" (RFC 5321)


def _reply(code: int, text: bytes | str) -> str:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"SMTP server replied {code} {' '.join(detail.split())}"[:500]


def _hung_up(exc: BaseException) -> bool:
    if isinstance(exc, _HUNG_UP):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == _CLOSING
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code == _CLOSING for code, _ in exc.recipients.values())
    return False


class SmtpMailer:
    """Sends messages to the configured server over pooled SMTP connections."""

    def __init__(
        self, settings: SmtpSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # (connection, idle since), LIFO
        self._opened = 0
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None

    @property
    def server(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    @property
    def idle_connections(self) -> int:
        with self._lock:
            return len(self._idle)

    @property
    def connections_opened(self) -> int:
        """How many connections this mailer has opened so far."""
        return self._opened

    def send(self, email: Email) -> None:
        try:
            self._send(email)
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

    def close(self) -> None:
        """Close every idle connection and stop the idle reaper; safe to call twice."""
        with self._lock:
            self._closing.set()
            idle, self._idle = self._idle, []
        for smtp, _ in idle:
            _quit(smtp)
        reaper = self._reaper
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join(timeout=self._settings.timeout_s)

    def _send(self, email: Email) -> None:
        smtp = self._take()
        if smtp is not None:
            try:
                self._transmit(smtp, email)
                return
            except (smtplib.SMTPException, OSError) as exc:
                if not _hung_up(exc):
                    raise
                log.info(
                    "SMTP server %s closed a kept connection (%r); reconnecting", self.server, exc
                )
        self._transmit(self._connect(), email)

    def _transmit(self, smtp: smtplib.SMTP, email: Email) -> None:
        options = ["BODY=8BITMIME"] if email.eight_bit and smtp.has_extn("8bitmime") else []
        try:
            smtp.sendmail(email.sender, [email.recipient], email.data, options)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException):
            # The server answered.  smtplib closed the connection on a 421 and sent RSET
            # after most refusals, but not after a refused DATA command: RSET here, so
            # the next email never meets a half-open transaction.
            if smtp.sock is not None and _reset(smtp):
                self._put_back(smtp)
            raise
        except BaseException:
            # cut off mid-transaction: what the server has seen is unknown
            smtp.close()
            raise
        self._put_back(smtp)

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with self._lock:
            self._opened += 1
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.starttls:
                smtp.starttls()
                smtp.ehlo()
            if s.username and s.password:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _take(self) -> smtplib.SMTP | None:
        with self._lock:
            return self._idle.pop()[0] if self._idle else None

    def _put_back(self, smtp: smtplib.SMTP) -> None:
        with self._lock:  # the same lock as close(), so nothing is kept after it
            keep = not self._closing.is_set() and self._settings.idle_timeout_s > 0
            if keep:
                self._idle.append((smtp, self._clock()))
                if self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="smtp-idle-reaper", daemon=True
                    )
                    self._reaper.start()
        if not keep:
            _quit(smtp)

    def _reap(self) -> None:
        """Close connections idle longer than the limit, until ``close()``."""
        limit = self._settings.idle_timeout_s
        wait = limit
        while not self._closing.wait(wait):
            now = self._clock()
            with self._lock:
                expired = [smtp for smtp, since in self._idle if now - since >= limit]
                self._idle = [(smtp, since) for smtp, since in self._idle if now - since < limit]
                oldest = min((since for _, since in self._idle), default=None)
            for smtp in expired:
                _quit(smtp)
            # wake when the oldest idle connection expires; with none, look again after
            # half the limit, so one put back meanwhile is still closed on time
            wait = limit / 2 if oldest is None else max(oldest + limit - now, 0.01)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reset(smtp: smtplib.SMTP) -> bool:
    """RSET; False (and the connection closed) when the server does not take it."""
    try:
        if smtp.rset()[0] == 250:
            return True
    except (smtplib.SMTPException, OSError):
        pass
    smtp.close()
    return False
