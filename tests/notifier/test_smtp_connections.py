"""``SmtpMailer`` against real aiosmtpd servers: kept connections, reconnects, refusals.

Two servers: the sandbox's mock SMTP (its inbox records the peer of every mail, so
mails that share a client port shared a connection) and a bare aiosmtpd server that
counts the connections it has open and can close them, as a server does on a timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP

from mocks.smtp.refusal import RefuseMode
from mocks.smtp.server import MockSmtpServer, _BoundController, _listening_socket
from sandbox.services.notifier.mailer import Email, MailError, compose
from sandbox.services.notifier.rendering import RenderedEmail
from sandbox.services.notifier.settings import SmtpSettings
from sandbox.services.notifier.smtp import SmtpMailer
from sandbox.waiting import wait_for
from tests.notifier.support import unique_email
from tests.service_support import free_port

pytestmark = pytest.mark.integration


def email_to(recipient: str) -> Email:
    rendered = RenderedEmail(subject="Hello", text="Hello\n", html="<p>Hello</p>\n")
    return compose(
        rendered,
        sender="Appointments <notify@example.com>",
        recipient=recipient,
        message_id=f"<{recipient}>",
        headers={"X-Correlation-Id": "flow-1"},
    )


class CountingServer:
    """aiosmtpd accepting every mail, counting its open connections; can close them all."""

    def __init__(self) -> None:
        self.opened = 0
        self._open: set[SMTP] = set()
        self._lock = threading.Lock()
        server = self

        class Counting(SMTP):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                with server._lock:
                    server.opened += 1
                    server._open.add(self)
                super().connection_made(transport)

            def connection_lost(self, error: Exception | None) -> None:
                with server._lock:
                    server._open.discard(self)
                super().connection_lost(error)

        class Controller(_BoundController):
            def factory(self) -> SMTP:
                return Counting(self.handler, **self.SMTP_kwargs)

        sock = _listening_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self.controller = Controller(Sink(), sock)

    def start(self) -> None:
        self.controller.start()
        # the controller's own probe connection at start is not a client's
        self.wait_all_closed("the start-up probe gone")
        with self._lock:
            self.opened = 0

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def wait_all_closed(self, what: str, seen: Callable[[], object] | None = None) -> None:
        """Wait until no connection is open; ``what`` says who was to close them."""
        wait_for(
            lambda: self.open_connections == 0,
            timeout=5,
            what=what,
            seen=seen or (lambda: self.open_connections),
        )

    def close_connections(self) -> None:
        """Close every client connection from the server's side, as an idle timeout does."""
        with self._lock:
            transports = [s.transport for s in self._open if s.transport is not None]
        for transport in transports:
            self.controller.loop.call_soon_threadsafe(transport.close)
        self.wait_all_closed("the server to close its connections")


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    server = CountingServer()
    server.start()
    try:
        yield server
    finally:
        server.controller.stop()


@contextmanager
def mailer_for(port: int, **overrides: Any) -> Iterator[SmtpMailer]:
    mailer = SmtpMailer(replace(SmtpSettings(port=port, timeout_s=5), **overrides))
    try:
        yield mailer
    finally:
        mailer.close()


@pytest.fixture
def mailer(own_smtp: MockSmtpServer) -> Iterator[SmtpMailer]:
    with mailer_for(own_smtp.smtp_port) as kept:
        yield kept


def peers(server: MockSmtpServer, *recipients: str) -> list[str]:
    """The client address of each recipient's mail, in the order given."""
    by_recipient = {m.rcpt_tos[0]: m.peer for m in server.store.list()}
    return [by_recipient[r] for r in recipients]


def test_several_emails_go_over_one_smtp_connection(
    mailer: SmtpMailer, own_smtp: MockSmtpServer
) -> None:
    recipients = [unique_email() for _ in range(5)]
    for recipient in recipients:
        mailer.send(email_to(recipient))

    assert len(set(peers(own_smtp, *recipients))) == 1
    assert mailer.connections_opened == 1


def test_a_connection_the_server_closed_is_replaced_without_a_failure(
    counting: CountingServer,
) -> None:
    with mailer_for(counting.port) as mailer:
        mailer.send(email_to(unique_email()))
        counting.close_connections()

        mailer.send(email_to(unique_email()))  # no MailError: one new connection

        assert counting.opened == 2
        assert counting.open_connections == 1


def test_a_421_on_a_kept_connection_is_sent_again_on_a_new_one(
    mailer: SmtpMailer, own_smtp: MockSmtpServer
) -> None:
    first, second = unique_email(), unique_email()
    mailer.send(email_to(first))
    own_smtp.refuse.set(RefuseMode(enabled=True, code=421, stage="mail", remaining=1))

    mailer.send(email_to(second))

    a, b = peers(own_smtp, first, second)
    assert a != b
    assert mailer.connections_opened == 2


def test_a_421_on_a_new_connection_is_reported_retryable(
    mailer: SmtpMailer, own_smtp: MockSmtpServer
) -> None:
    own_smtp.refuse.set(RefuseMode(enabled=True, code=421, stage="mail", remaining=1))

    with pytest.raises(MailError) as refused:
        mailer.send(email_to(unique_email()))

    assert (refused.value.code, refused.value.permanent) == ("SMTP_REFUSED", False)
    assert "421" in str(refused.value)


def test_a_permanent_refusal_stays_permanent_and_the_connection_stays_in_use(
    mailer: SmtpMailer, own_smtp: MockSmtpServer
) -> None:
    first, refused_to, third = unique_email(), unique_email(), unique_email()
    mailer.send(email_to(first))
    own_smtp.refuse.set(RefuseMode(enabled=True, code=550, message="5.1.1 no", stage="rcpt"))

    with pytest.raises(MailError) as refused:
        mailer.send(email_to(refused_to))

    assert (refused.value.code, refused.value.permanent) == ("SMTP_REFUSED", True)
    assert "550 5.1.1 no" in str(refused.value)
    assert own_smtp.refuse.describe()["refused_total"] == 1  # not tried again
    own_smtp.refuse.set(RefuseMode())
    mailer.send(email_to(third))
    assert len(set(peers(own_smtp, first, third))) == 1
    assert mailer.connections_opened == 1


@pytest.mark.parametrize("stage", ["mail", "rcpt", "data"])
def test_a_temporary_refusal_is_retryable_and_sent_once(
    stage: str, mailer: SmtpMailer, own_smtp: MockSmtpServer
) -> None:
    mailer.send(email_to(unique_email()))
    own_smtp.refuse.set(RefuseMode(enabled=True, code=451, stage=stage, remaining=1))

    with pytest.raises(MailError) as refused:
        mailer.send(email_to(unique_email()))

    assert (refused.value.code, refused.value.permanent) == ("SMTP_REFUSED", False)
    assert own_smtp.refuse.describe()["refused_total"] == 1
    later = unique_email()
    mailer.send(email_to(later))  # the kept connection is still in a clean state
    assert peers(own_smtp, later)
    assert mailer.connections_opened == 1


def test_no_server_listening_is_reported_retryable() -> None:
    with mailer_for(free_port()) as mailer:
        with pytest.raises(MailError) as unavailable:
            mailer.send(email_to(unique_email()))
        assert (unavailable.value.code, unavailable.value.permanent) == (
            "SMTP_UNAVAILABLE",
            False,
        )


def test_an_idle_connection_is_closed_after_the_idle_limit(counting: CountingServer) -> None:
    with mailer_for(counting.port, idle_timeout_s=0.3) as mailer:
        mailer.send(email_to(unique_email()))
        assert counting.open_connections == 1

        counting.wait_all_closed(
            "the idle connection closed by the mailer",
            seen=lambda: (counting.open_connections, mailer.idle_connections),
        )
        assert mailer.idle_connections == 0
        mailer.send(email_to(unique_email()))  # and a new one opens when needed
        assert counting.opened == 2


def test_threads_sending_at_once_each_use_a_connection_and_close_ends_them_all(
    counting: CountingServer,
) -> None:
    with mailer_for(counting.port) as mailer:
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def send_three() -> None:
            try:
                barrier.wait(timeout=5)
                for _ in range(3):
                    mailer.send(email_to(unique_email()))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send_three) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)

        assert errors == []
        assert 1 <= counting.opened <= 4
        mailer.close()
        counting.wait_all_closed("every kept connection closed by close()")


def test_without_an_idle_limit_each_email_has_its_own_connection(
    counting: CountingServer,
) -> None:
    with mailer_for(counting.port, idle_timeout_s=0) as mailer:
        for _ in range(3):
            mailer.send(email_to(unique_email()))
        assert counting.opened == 3
        counting.wait_all_closed("no connection kept")
