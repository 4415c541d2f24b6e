"""``GET /health`` for processes that have no HTTP API of their own (consumers, relays).

A consumer or relay serves one tiny endpoint on its own port: ``GET`` answers 200 when
the process is healthy, 503 with the same JSON otherwise (``sandbox status`` counts any
answer but 200 as unhealthy).  ``HEAD`` is the readiness probe the sandbox waits on when
it starts or restarts the process: 2xx once the process can do its job (broker
connected, database reachable), even if the report needs a person's attention.  A relay
with parked outbox rows is such a case: unhealthy, so it shows, but ready, so a restart
is not refused for ever.  The report says which with ``status`` and ``ready``.
It runs on a daemon thread of the standard library's threading HTTP server; it shares
nothing with the work but the report callable.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

Report = Callable[[], dict[str, Any]]


def check_database(engine: Engine) -> dict[str, Any]:
    """``{"ok": True}`` when a trivial query answers, else ``ok: False`` with the error."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def overall(checks: dict[str, dict[str, Any]]) -> str:
    return "ok" if all(check.get("ok") for check in checks.values()) else "degraded"


def answer_status(body: dict[str, Any], method: str) -> int:
    """200 or 503 for a report: ``GET`` asks whether healthy, ``HEAD`` whether ready."""
    ok = body.get("status") == "ok"
    if method == "HEAD":
        ok = bool(body.get("ready", ok))
    return 200 if ok else 503


class HealthServer:
    """Serves ``report()`` as JSON at ``GET /health``; 200 when its status is ``ok``.

    A report may say ``ready: True`` while its status is not ``ok``: the process works
    but needs attention, and ``HEAD /health`` (readiness) answers 200.
    """

    def __init__(self, host: str, port: int, report: Report) -> None:
        self._report = report
        handler = self._handler_class()
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name="health", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        report = self._report

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(with_body=True)

            def do_HEAD(self) -> None:  # the sandbox's readiness probe (mirakuru) uses HEAD
                self._answer(with_body=False)

            def _answer(self, with_body: bool) -> None:
                if self.path.split("?", 1)[0] != "/health":
                    error = {"code": "NOT_FOUND", "message": "try /health"}
                    self._send(404, {"error": error}, with_body)
                    return
                try:
                    body = report()
                except Exception as exc:  # a failing probe is itself a health answer
                    log.exception("health report failed")
                    body = {"status": "degraded", "error": type(exc).__name__}
                self._send(answer_status(body, self.command), body, with_body)

            def _send(self, status: int, body: dict[str, Any], with_body: bool) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # health polls would flood the process log

        return Handler
