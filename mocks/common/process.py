"""Serve a mock with gunicorn as its own process: one gthread worker, keep-alive, JSON refusals.

A mock keeps its state in memory, so it runs exactly one worker.  The app (and anything
running beside it, like the provider's webhook thread) is built in ``load()``, which
gunicorn calls inside the worker after forking, so it lives in the process that serves
the requests.  gunicorn's own refusals (malformed request 400, request line past 4094
bytes 414, headers past 8190 bytes or 100 fields 431) are answered with ``refusal``'s
body, the mock's own error shape.  In a test's process, where gunicorn's forking arbiter
cannot run, the same app is served by ``mocks.common.server``.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from sandbox.http_refusals import Render, gunicorn_worker

# Longer than any client keeps an idle connection (as the services' gunicorn does).
KEEPALIVE_S = 75


class GunicornMock(BaseApplication):
    """A mock's gunicorn application; subclasses build the app in :meth:`load`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        threads: int,
        refusal: Render,
        graceful_timeout_s: float = 3.0,
        access_log: bool = False,
    ) -> None:
        self._options: dict[str, Any] = {
            "bind": f"{host}:{port}",
            "workers": 1,  # the state is in memory: a second worker would split it
            "worker_class": gunicorn_worker(refusal),
            "threads": threads,
            # an injected delay holds a request thread, not the worker's heartbeat: no kill
            "timeout": 120,
            "graceful_timeout": max(1, math.ceil(graceful_timeout_s)),
            "keepalive": KEEPALIVE_S,
            "accesslog": "-" if access_log else None,
            "errorlog": "-",
            "loglevel": "info",
            # gunicornc's socket has one default path per user: the mocks and services of
            # one sandbox would take it from each other (gunicorn 25.1 and later)
            "control_socket_disable": True,
            "when_ready": lambda arbiter: self.ready(arbiter.LISTENERS[0].sock.getsockname()[1]),
            "worker_exit": lambda arbiter, worker: self.worker_exit(),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        raise NotImplementedError

    def ready(self, port: int) -> None:
        """Called once gunicorn listens on ``port``, before the worker starts."""

    def worker_exit(self) -> None:
        """Called in the worker as it stops."""
