"""One error shape for every refusal: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses, with a machine code and a message a person can act on."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """Build the JSON error response."""
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


def http_error_body(status: int, message: str) -> dict[str, Any]:
    """The error body for the HTTP server's own refusals (code from the status's name)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return {"error": {"code": code, "message": message, "field": None}}


def register_error_handlers(app: Flask) -> None:
    """Answer API errors, HTTP errors and crashes with the same JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.field)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(status, code, error.description or error.name)
        # 405 must keep its Allow header, which werkzeug computed for this route.
        allow = error.get_response().headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def _crash(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", f"{type(error).__name__}: {error}")
