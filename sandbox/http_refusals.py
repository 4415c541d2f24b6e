"""JSON answers for the requests an HTTP server refuses before the application sees them.

gunicorn (behind the services, the mock provider and the mock merchant) answers a
malformed request with 400, a request line longer than ``limit_request_line`` with 414 and
headers past ``limit_request_field_size`` / ``limit_request_fields`` with 431, and
werkzeug's threaded server (behind the SMTP mock's inbox, and the mocks inside tests)
does the same through ``http.server``: all as HTML pages.  A client of a JSON API gets
JSON for every answer, so both servers are given a class here that writes the
application's own error shape instead; ``render`` turns a status and a message into that
body.  The messages are fixed or clipped: a refusal of an oversized request never echoes
it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.serving import WSGIRequestHandler

from sandbox.strict_json import clip

log = logging.getLogger(__name__)

Render = Callable[[int, str], dict[str, Any]]

# gunicorn's refusals, most specific first (the response-header errors subclass the
# request-header ones but are the application's fault).
_GUNICORN_REFUSALS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int, str], ...] = (
    (
        (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName),
        500,
        "the application produced an invalid response header",
    ),
    (errors.ConfigurationProblem, 500, "the server is misconfigured"),
    (errors.LimitRequestLine, 414, "request line too long"),
    (errors.LimitRequestHeaders, 431, "request header fields too large"),
    (errors.ExpectationFailed, 417, "unsupported Expect header"),
    (errors.UnsupportedTransferCoding, 501, "unsupported Transfer-Encoding"),
    (errors.ForbiddenProxyRequest, 403, "proxy request forbidden"),
    (errors.ParseException, 400, "malformed HTTP request"),
)


def _gunicorn_refusal(exc: BaseException) -> tuple[int, str]:
    for kinds, status, message in _GUNICORN_REFUSALS:
        if isinstance(exc, kinds):
            if status == 400:
                message = f"{message}: {clip(str(exc), 120)}"
            return status, message
    return 500, "unexpected error; see the server log"


def _http_message(status: int, body: bytes) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def gunicorn_worker(render: Render) -> type[ThreadWorker]:
    """A gthread worker class whose own refusals are ``render``'s JSON, not HTML."""

    class JsonRefusalWorker(ThreadWorker):
        def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
            status, message = _gunicorn_refusal(exc)
            if status >= 500:
                self.log.exception("error handling request: %s", message)
            else:
                self.log.warning("refused a request from %s: %s", (addr or ("",))[0], exc)
            body = json.dumps(render(status, message)).encode()
            try:
                gunicorn_util.write_nonblock(client, _http_message(status, body))
            except Exception:
                self.log.debug("could not send the %s refusal", status)

    return JsonRefusalWorker


def werkzeug_handler(render: Render) -> type[WSGIRequestHandler]:
    """A werkzeug request handler whose own refusals are ``render``'s JSON, not HTML."""

    class JsonRefusalHandler(WSGIRequestHandler):
        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            status = int(code)
            if status == 505:
                # A version no server here speaks is the client's error; gunicorn says 400.
                status, message = 400, f"unsupported HTTP version: {clip(message or '', 40)}"
            short = self.responses.get(status, ("Error", ""))[0]
            if self.request_version == "HTTP/0.9":
                # http.server still assumes 0.9 (a reply without status line or headers)
                # when it refuses the request line itself; nobody speaks 0.9 any more.
                self.request_version = "HTTP/1.0"
            text = clip(message or short, 120)
            self.log_error("code %d, message %s", status, text)
            body = json.dumps(render(status, text)).encode()
            self.send_response(status, short)
            self.send_header("Connection", "close")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and status >= 200 and status not in (204, 304):
                self.wfile.write(body)

    return JsonRefusalHandler
