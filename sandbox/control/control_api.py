"""The supervisor's control API: the state, component actions and shutdown, over HTTP.

Every request needs the supervisor's bearer token (``Authorization: Bearer <token>``,
kept in the owner-only state file); every refusal is in the services' error shape.
"""

from __future__ import annotations

import hmac
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from sandbox.broker import NodeStartError
from sandbox.control.state import masked
from sandbox.services.common.web import ApiError, install

if TYPE_CHECKING:
    from sandbox.control.supervisor import Supervisor

ACTIONS = ("kill", "stop", "start", "restart")


def serve_control_api(supervisor: Supervisor) -> str:
    """Serve the control API of ``supervisor`` on a free port of its host, in a thread;
    its URL."""
    app = Flask("sandbox-supervisor")
    install(app, "sandbox-supervisor")

    @app.before_request
    def _authorize() -> None:
        """Refuse (401) any request without this supervisor's bearer token."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare bytes: compare_digest refuses str with non-ASCII characters
        sent = given.strip().encode("utf-8", "replace")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent, supervisor.token.encode()):
            return
        raise ApiError(
            "UNAUTHORIZED",
            "the supervisor's control API needs `Authorization: Bearer <token>`; the token "
            "is supervisor.token in the sandbox's owner-only state.json",
            401,
            details={"header": "Authorization"},
        )

    @app.after_request
    def _challenge(response: Response) -> Response:
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="sandbox-supervisor"'
        return response

    @app.get("/state")
    def _state() -> Any:
        return jsonify(masked(supervisor.state.read()))

    @app.post("/components/<name>/<action>")
    def _action(name: str, action: str) -> Any:
        if action not in ACTIONS:
            raise ApiError(
                "UNKNOWN_ACTION",
                f"{action!r} is not an action; use kill, stop, start or restart",
                404,
                details={"action": action},
            )
        try:
            return jsonify(supervisor.component_action(name, action))
        except NodeStartError as exc:
            raise ApiError(
                "BROKER_START_FAILED",
                f"{name} did not start: {str(exc).splitlines()[0]}",
                503,
                details={"component": name},
            ) from exc
        except KeyError:
            known = supervisor.component_names()
            raise ApiError(
                "UNKNOWN_COMPONENT",
                f"no component {name!r} (known: {', '.join(known)})",
                404,
                details={"component": name, "known": known},
            ) from None

    @app.post("/shutdown")
    def _shutdown() -> Any:
        threading.Thread(target=_shutdown_and_exit, args=(supervisor,), daemon=True).start()
        return jsonify({"status": "stopping"})

    server = make_server(supervisor.settings.host, 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="control").start()
    return f"http://{supervisor.settings.host}:{server.server_port}"


def _shutdown_and_exit(supervisor: Supervisor) -> None:
    supervisor.shutdown()
    os.kill(os.getpid(), signal.SIGTERM)
