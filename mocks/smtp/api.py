"""HTTP inbox and control API of the mock SMTP server (contracts/http/mock-smtp.openapi.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from mocks.common.app import mock_app, mock_state
from mocks.common.errors import ApiError
from mocks.common.inputs import json_object
from mocks.smtp.message import CapturedMessage
from mocks.smtp.refusal import RefuseMode, RefusePolicy
from mocks.smtp.settings import SmtpMockSettings
from mocks.smtp.store import MessageStore
from mocks.smtp.validation import message_filter, refuse_mode
from sandbox.health import flask_response, report

# The only bodies this API reads are small control objects.
MAX_BODY_BYTES = 64 * 1024

ListenerProbe = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class SmtpMockState:
    """What the HTTP handlers share with the SMTP listener."""

    settings: SmtpMockSettings
    store: MessageStore
    refuse: RefusePolicy
    listener: ListenerProbe


def _state() -> SmtpMockState:
    return mock_state(SmtpMockState)


inbox = Blueprint("inbox", __name__, url_prefix="/api/messages")
control = Blueprint("control", __name__, url_prefix="/_control")
# Where the control API was first served; kept so that existing callers keep working.
LEGACY_CONTROL_PREFIX = "/api/control"
health = Blueprint("health", __name__)


@inbox.get("")
def list_messages() -> Response:
    """List captured messages, oldest first, optionally filtered."""
    messages = _state().store.list(message_filter(request))
    return jsonify({"count": len(messages), "messages": [m.summary() for m in messages]})


@inbox.delete("")
def delete_messages() -> Response:
    """Delete every captured message."""
    return jsonify({"deleted": _state().store.clear()})


@inbox.get("/<message_id>")
def get_message(message_id: str) -> Response:
    """Show one message with headers, both bodies and the raw source."""
    return jsonify(_find(message_id).detail())


@inbox.get("/<message_id>/raw")
def get_raw_message(message_id: str) -> Response:
    """Return the exact bytes received, as message/rfc822."""
    return Response(_find(message_id).raw, mimetype="message/rfc822")


@inbox.delete("/<message_id>")
def delete_message(message_id: str) -> Response:
    """Delete one message."""
    if not _state().store.delete(message_id):
        raise _not_found(message_id)
    return jsonify({"deleted": 1})


@control.get("")
def show_control() -> Response:
    """Show the current refuse mode."""
    return jsonify({"refuse": _state().refuse.describe()})


@control.post("/refuse")
def set_refuse() -> Response:
    """Turn refuse mode on or off."""
    state = _state()
    state.refuse.set(refuse_mode(json_object(request)))
    return jsonify({"refuse": state.refuse.describe()})


@control.post("/reset")
def reset_refuse() -> Response:
    """Turn refuse mode off (messages are kept; DELETE /api/messages clears them)."""
    state = _state()
    state.refuse.set(RefuseMode())
    return jsonify({"refuse": state.refuse.describe()})


@health.get("/health")
def show_health() -> Response:
    """Report whether the SMTP listener is up, what is stored and the refuse mode."""
    state = _state()
    smtp = state.listener()
    body = report(
        "mock-smtp",
        "mock",
        {"smtp": {"ok": bool(smtp["listening"])}},
        smtp=smtp,
        messages=state.store.stats(),
        refuse=state.refuse.describe(),
    )
    return flask_response(body)


def _find(message_id: str) -> CapturedMessage:
    message = _state().store.get(message_id)
    if message is None:
        raise _not_found(message_id)
    return message


def _not_found(message_id: str) -> ApiError:
    return ApiError(404, "message_not_found", f"no captured message has id {message_id!r}", "id")


def create_app(
    settings: SmtpMockSettings,
    store: MessageStore,
    refuse: RefusePolicy,
    listener: ListenerProbe,
) -> Flask:
    """Build the inbox app around the store and policy the SMTP handler uses."""
    state = SmtpMockState(settings, store, refuse, listener)
    app = mock_app(__name__, state, MAX_BODY_BYTES, (inbox, control, health))
    app.add_url_rule(LEGACY_CONTROL_PREFIX, view_func=show_control, methods=["GET"])
    app.add_url_rule(LEGACY_CONTROL_PREFIX + "/refuse", view_func=set_refuse, methods=["POST"])
    return app
