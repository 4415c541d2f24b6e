"""Serve a mock's Flask app from a thread of the process that holds the mock's state.

Werkzeug's threaded WSGI server rather than gunicorn: gunicorn's arbiter forks its
worker (which would hold its own copy of the state) and installs signal handlers, which
only works from the main thread.  Werkzeug serves from a plain thread, next to whatever
else the process runs (aiosmtpd's event loop, a test).  A mock that is a process of its
own and nothing else is served by gunicorn instead (``mocks.common.process``).  The
server's own refusals (malformed request, request line or headers too long) are answered
in the mocks' JSON error shape.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from mocks.common.errors import http_error_body
from sandbox.http_refusals import werkzeug_handler

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# How often serve_forever checks for shutdown; it bounds how long stop() takes.
POLL_INTERVAL_S = 0.05
REFUSAL_HANDLER = werkzeug_handler(http_error_body)


class WsgiThread:
    """A threaded werkzeug server for ``app`` on its own thread; the port is bound at once."""

    def __init__(
        self,
        app: WSGIApplication,
        host: str,
        port: int,
        name: str,
        handler: type[WSGIRequestHandler] = REFUSAL_HANDLER,
    ) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=handler
        )
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_INTERVAL_S,), name=name, daemon=True
        )

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Served:
    """A mock that ``start()`` brings up and ``stop()`` (safe to call twice) takes down."""

    _http: WsgiThread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving HTTP; safe to call twice."""
        http, self._http = self._http, None
        if http is not None:
            http.stop()

    def serve_http(self, app: WSGIApplication, host: str, port: int, name: str) -> int:
        """Serve ``app`` from a thread of its own; return the port it is bound to."""
        self._http = WsgiThread(app, host, port, name)
        self._http.start()
        return self._http.port

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
