"""Run the SMTP listener and the HTTP inbox together, in threads of one process.

The HTTP side is werkzeug's threaded WSGI server rather than gunicorn: the inbox lives in
this process's memory, and gunicorn's arbiter forks workers (each with its own empty
inbox) and installs signal handlers, which only works from the main thread.  Werkzeug
serves from a plain thread next to aiosmtpd's event-loop thread, sharing one store.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from mocks.common.errors import http_error_body
from mocks.smtp.api import create_app
from mocks.smtp.handler import CaptureHandler, accept_any_login
from mocks.smtp.refusal import RefusePolicy
from mocks.smtp.settings import SmtpMockSettings
from mocks.smtp.store import MessageStore
from sandbox.http_refusals import werkzeug_handler

# How often serve_forever checks for shutdown; it bounds how long stop() takes.
_POLL_INTERVAL_S = 0.05
# The server's own refusals (malformed request, request line or headers too long) in JSON.
REFUSAL_HANDLER = werkzeug_handler(http_error_body)


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


class WsgiThread:
    """A threaded werkzeug server for ``app`` on its own thread."""

    def __init__(self, app: Flask, host: str, port: int, name: str) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=REFUSAL_HANDLER
        )
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_INTERVAL_S,), name=name, daemon=True
        )

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class MockSmtpServer:
    """The SMTP listener plus its HTTP inbox; a context manager that starts and stops both."""

    def __init__(self, settings: SmtpMockSettings) -> None:
        self.settings = settings
        self.store = MessageStore(settings.max_messages)
        self.refuse = RefusePolicy()
        self._controller: _BoundController | None = None
        self._http: WsgiThread | None = None
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

    def start(self) -> MockSmtpServer:
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
            self._http = WsgiThread(app, settings.host, settings.http_port, "mock-smtp-http")
        except BaseException:
            self.stop()
            raise
        self.http_port = self._http.port
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop both listeners; safe to call twice."""
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MockSmtpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
