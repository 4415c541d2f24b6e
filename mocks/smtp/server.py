"""Run the SMTP listener and the HTTP inbox together, in threads of one process.

aiosmtpd's event loop and the inbox's WSGI server (``mocks.common.server``) each run on
a thread of their own and share one store.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Self

from aiosmtpd.controller import Controller

from mocks.common.server import Served
from mocks.smtp.api import create_app
from mocks.smtp.handler import CaptureHandler, accept_any_login
from mocks.smtp.refusal import RefusePolicy
from mocks.smtp.settings import SmtpMockSettings
from mocks.smtp.store import MessageStore


def _listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listener whose accepted connections asyncio will put in TCP_NODELAY mode.

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP, and
    ``socket.create_server`` leaves it 0.  Without it every multi-line SMTP reply (EHLO)
    meets Nagle's algorithm and the client's delayed ACK: 40 ms per reply.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class _BoundController(Controller):
    """aiosmtpd Controller serving a socket bound beforehand, so port 0 is known at once."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)

    def is_serving(self) -> bool:
        """Return whether the listening socket is accepting connections."""
        server = self.server
        return isinstance(server, asyncio.AbstractServer) and server.is_serving()


class MockSmtpServer(Served):
    """The SMTP listener plus its HTTP inbox; a context manager that starts and stops both."""

    def __init__(self, settings: SmtpMockSettings) -> None:
        self.settings = settings
        self.store = MessageStore(settings.max_messages)
        self.refuse = RefusePolicy()
        self._controller: _BoundController | None = None
        self.smtp_port = 0
        self.http_port = 0

    @property
    def http_url(self) -> str:
        """Return the base URL of the HTTP inbox."""
        return f"http://{self.settings.host}:{self.http_port}"

    def listener_status(self) -> dict[str, Any]:
        """Describe the SMTP listener for /health."""
        controller = self._controller
        return {
            "listening": controller is not None and controller.is_serving(),
            "host": self.settings.host,
            "port": self.smtp_port,
        }

    def start(self) -> Self:
        """Bind both ports and start serving; raise if either cannot start."""
        settings = self.settings
        sock = _listening_socket(settings.host, settings.smtp_port)
        self.smtp_port = sock.getsockname()[1]
        controller = _BoundController(
            CaptureHandler(self.store, self.refuse),
            sock,
            server_hostname=settings.server_hostname,
            data_size_limit=settings.data_size_limit,
            auth_require_tls=False,
            authenticator=accept_any_login,
        )
        try:
            controller.start()
        except BaseException:
            sock.close()
            raise
        self._controller = controller
        try:
            app = create_app(settings, self.store, self.refuse, self.listener_status)
            self.http_port = self.serve_http(
                app, settings.host, settings.http_port, "mock-smtp-http"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both listeners; safe to call twice."""
        super().stop()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
