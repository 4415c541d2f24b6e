"""HTTP API of the mock merchant (contracts/http/mock-merchant.openapi.yaml)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, jsonify, request

from mocks.common.app import mock_app, mock_state
from mocks.common.errors import ApiError
from mocks.common.inputs import json_object
from mocks.merchant.faults import FaultPolicy
from mocks.merchant.receiver import Incoming, receive
from mocks.merchant.settings import MerchantMockSettings
from mocks.merchant.store import CallbackStore, summarize
from mocks.merchant.validation import delay_ms, fail_mode, record_filter
from sandbox.health import flask_response, report


@dataclass(frozen=True)
class MerchantMockState:
    """What every request handler shares."""

    settings: MerchantMockSettings
    store: CallbackStore
    faults: FaultPolicy


def _state() -> MerchantMockState:
    return mock_state(MerchantMockState)


callbacks = Blueprint("callbacks", __name__, url_prefix="/callbacks")
control = Blueprint("control", __name__, url_prefix="/_control")
health = Blueprint("health", __name__)


def receive_callback() -> Response:
    """Verify and record one merchant callback (mounted at the configured path)."""
    state = _state()
    delay = state.faults.delay_ms()
    if delay:
        # Injected latency is the feature here: the notifier must see a slow merchant.
        time.sleep(delay / 1000)
    incoming = Incoming(
        method=request.method,
        path=request.path,
        headers=tuple(request.headers.items()),
        body=request.get_data(cache=False),
    )
    _, reply = receive(incoming, state.settings, state.store, state.faults, delay)
    response = jsonify(reply.body)
    response.status_code = reply.status
    return response


@callbacks.get("")
def list_callbacks() -> Response:
    """List recorded attempts, oldest first, optionally filtered."""
    records = _state().store.list(record_filter(request))
    return jsonify({"count": len(records), "callbacks": [r.to_json() for r in records]})


@callbacks.get("/summary")
def summarize_callbacks() -> Response:
    """Count outcomes per payment, with the same filters as the list."""
    return jsonify(summarize(_state().store.list(record_filter(request))))


@callbacks.get("/<int:record_id>")
def get_callback(record_id: int) -> Response:
    """Show one recorded attempt."""
    record = _state().store.get(record_id)
    if record is None:
        raise ApiError(404, "callback_not_found", f"no recorded callback has id {record_id}", "id")
    return jsonify(record.to_json())


@callbacks.delete("")
def delete_callbacks() -> Response:
    """Forget every recorded attempt and accepted idempotency key."""
    return jsonify({"deleted": _state().store.clear()})


@control.get("")
def show_control() -> Response:
    """Show the current fail mode and latency."""
    return jsonify(_state().faults.describe())


@control.post("/fail")
def set_fail() -> Response:
    """Make callbacks fail: the next N, always, or no more."""
    faults = _state().faults
    faults.set_fail(fail_mode(json_object(request, {"mode", "status", "count"})))
    return jsonify(faults.describe())


@control.post("/latency")
def set_latency() -> Response:
    """Delay every callback response."""
    faults = _state().faults
    faults.set_delay(delay_ms(json_object(request, {"delay_ms"})))
    return jsonify(faults.describe())


@control.post("/reset")
def reset_faults() -> Response:
    """Turn failures and latency off (records are kept; DELETE /callbacks clears them)."""
    faults = _state().faults
    faults.reset()
    return jsonify(faults.describe())


@health.get("/health")
def show_health() -> Response:
    """Report configuration, attempt counts and injected faults."""
    state = _state()
    settings = state.settings
    body = report(
        "mock-merchant",
        "mock",
        {},
        callback_path=settings.callback_path,
        signature_header=settings.signature_header,
        tolerance_s=settings.tolerance_s,
        # Lets a caller check it shares the secret without the secret being shown.
        secret_sha256_prefix=hashlib.sha256(settings.secret.encode()).hexdigest()[:12],
        callbacks=state.store.totals(),
        **state.faults.describe(),
    )
    return flask_response(body)


def create_app(
    settings: MerchantMockSettings,
    store: CallbackStore | None = None,
    faults: FaultPolicy | None = None,
) -> Flask:
    """Build the merchant app; the callback route is mounted at ``settings.callback_path``."""
    store = store or CallbackStore(settings.max_records)
    state = MerchantMockState(settings, store, faults or FaultPolicy())
    app = mock_app(__name__, state, settings.max_body_bytes, (callbacks, control, health))
    app.add_url_rule(settings.callback_path, "receive_callback", receive_callback, methods=["POST"])
    return app
