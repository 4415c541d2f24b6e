"""Serve a Flask app with gunicorn from inside our own entrypoint.

gunicorn is configured in code (no config file to find) and the app is built by the
caller's factory in each worker, so nothing is opened before the fork.  Its worker class
answers gunicorn's own refusals (malformed request 400, request line past 4094 bytes 414,
headers past 8190 bytes or 100 fields 431) in the seed's JSON error shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from sandbox.http_refusals import gunicorn_worker
from sandbox.services.common.web import http_error_body


class _Application(BaseApplication):
    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory()


KEEPALIVE_S = 75


def serve(
    factory: Callable[[], Flask],
    *,
    host: str,
    port: int,
    replica_port: int = 0,
    workers: int = 1,
    threads: int = 8,
    name: str = "service",
    timeout_s: int = 30,
) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT.

    With ``replica_port``, this process is one of several replicas: they all listen on
    ``port`` with SO_REUSEPORT, so the kernel spreads new connections over them (by a
    hash of each connection's addresses), and each also listens on ``replica_port``
    alone, where its own health can be asked.
    """
    bind = [f"{host}:{port}"] + ([f"{host}:{replica_port}"] if replica_port else [])
    options = {
        "bind": bind,
        "reuse_port": bool(replica_port),
        "workers": workers,
        "threads": threads,
        "worker_class": gunicorn_worker(http_error_body),
        "proc_name": name,
        "timeout": timeout_s,
        "graceful_timeout": 10,
        # Longer than any client keeps an idle connection: with gunicorn's default of
        # 2 s, a client reusing a connection the server is closing sees a reset (Locust
        # users that wait for a flow's email between two payments did, now and then).
        "keepalive": KEEPALIVE_S,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # gunicornc's socket has one default path per user: the services and mocks of
        # one sandbox would take it from each other (gunicorn 25.1 and later)
        "control_socket_disable": True,
    }
    _Application(factory, options).run()
