"""The Flask app of a mock: its shared state, its blueprints, the mocks' error shape.

Every request handler finds the mock's state (settings, store, fault policy) through
:func:`mock_state`, so the app is built around objects its owner (a server, a test)
made and still holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from flask import Blueprint, Flask, current_app

from mocks.common.errors import register_error_handlers

T = TypeVar("T")

STATE = "mock"


def mock_app(
    import_name: str, state: object, max_body_bytes: int, blueprints: Iterable[Blueprint]
) -> Flask:
    """A Flask app around ``state`` that answers every refusal in the mocks' error shape."""
    app = Flask(import_name)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.extensions[STATE] = state
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    return app


def mock_state(kind: type[T]) -> T:
    """Return the state of the mock serving this request."""
    state = current_app.extensions[STATE]
    if not isinstance(state, kind):
        raise TypeError(f"this app holds {type(state).__name__}, not {kind.__name__}")
    return state
