"""``/health`` for the service processes without an HTTP API of their own (consumers, relays).

A consumer or relay serves one tiny endpoint on its own port, in the format of
``sandbox.health`` (the same as every web process and mock): ``GET`` answers 200 when
the process is healthy and 503 with the same JSON otherwise; ``HEAD`` is the readiness
probe the sandbox waits on when it starts or restarts the process.  A relay with parked
outbox rows is unhealthy, so it shows, but ready, so a restart is not refused for ever.
It runs on a daemon thread of the standard library's threading HTTP server; it shares
nothing with the work but the report callable.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, Table, text

from sandbox import health
from sandbox.services.common import db
from sandbox.services.common.outbox import pending_count

log = logging.getLogger(__name__)

Report = Callable[[], dict[str, Any]]


def check_database(engine: Engine) -> dict[str, Any]:
    """``{"ok": True}`` when a trivial query answers, else ``ok: False`` with the error."""
    try:
        with db.reading(engine) as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def web_report(
    service: str,
    engine: Engine,
    outbox: Table,
    checks: Mapping[str, dict[str, Any]] | None = None,
    *,
    advisory: Collection[str] = (),
    **sections: Any,
) -> dict[str, Any]:
    """A web process's health: its database, its outbox backlog, and its own ``checks``."""
    every = {"database": check_database(engine), **(checks or {})}
    if every["database"]["ok"]:
        with db.reading(engine) as conn:
            sections["outbox"] = {"pending": pending_count(conn, outbox)}
    return health.report(service, "web", every, advisory=advisory, **sections)


class HealthServer:
    """Serves ``report()``, a ``sandbox.health`` body, at ``/health`` (GET and HEAD)."""

    def __init__(self, host: str, port: int, report: Report, *, service: str, process: str) -> None:
        self._report = report
        self._names = (service, process)
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
        service, process = self._names

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
                    body = health.failed(service, process, exc)
                self._send(health.http_status(body, self.command), body, with_body)

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
