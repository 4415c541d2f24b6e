"""Serve the merchant app from a thread, for tests and for ``main()``.

Werkzeug's threaded WSGI server rather than gunicorn: the records live in this process's
memory, and gunicorn's arbiter would fork workers that each keep their own records (and it
installs signal handlers, which only works from the main thread).
"""

from __future__ import annotations

import threading
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, make_server

from mocks.common.errors import http_error_body
from mocks.merchant.api import create_app
from mocks.merchant.faults import FaultPolicy
from mocks.merchant.settings import MerchantMockSettings
from mocks.merchant.store import CallbackStore
from sandbox.http_refusals import werkzeug_handler

# How often serve_forever checks for shutdown; it bounds how long stop() takes.
_POLL_INTERVAL_S = 0.05
# The server's own refusals (malformed request, request line or headers too long) in JSON.
REFUSAL_HANDLER = werkzeug_handler(http_error_body)


class MockMerchantServer:
    """The merchant endpoint on its own thread; a context manager that starts and stops it."""

    def __init__(self, settings: MerchantMockSettings) -> None:
        self.settings = settings
        self.store = CallbackStore(settings.max_records)
        self.faults = FaultPolicy()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://{self.settings.host}:{self.port}"

    @property
    def callback_url(self) -> str:
        """Return the URL the notifier should post callbacks to."""
        return self.url + self.settings.callback_path

    def start(self) -> MockMerchantServer:
        """Bind the port and start serving."""
        app = create_app(self.settings, self.store, self.faults)
        self._server = make_server(
            self.settings.host,
            self.settings.port,
            app,
            threaded=True,
            request_handler=REFUSAL_HANDLER,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(_POLL_INTERVAL_S,),
            name="mock-merchant-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> MockMerchantServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
