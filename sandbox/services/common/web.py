"""HTTP conventions shared by every service: one error shape, correlation ids, strict bodies.

Errors follow seed 003's format everywhere, for every refusal, including the ones Flask
raises itself (404, 405, bad JSON) and unexpected exceptions::

    {"error": {"code": "INVALID_AMOUNT", "message": "...", "details": {"field": "amount"}},
     "timestamp": "2024-12-15T10:30:45Z"}

Request bodies are read strictly (``sandbox.strict_json``: no NaN, repeated keys, lone
surrogates or deep nesting) and at most ``max_body_bytes`` long (413 beyond), then
validated against the service's own OpenAPI document (``openapi``).  Refusals never echo
a long value back: messages are clipped.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox import strict_json
from sandbox.messaging.envelope import (
    CORRELATION_HEADER,
    CORRELATION_ID_RULE,
    valid_correlation_id,
)
from sandbox.services.common import jsonlog
from sandbox.services.common.settings import DEFAULT_MAX_BODY_BYTES

log = logging.getLogger(__name__)

# Longest message text a refusal carries; longer ones are clipped.
MAX_MESSAGE_CHARS = 300


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ApiError(Exception):
    """A refusal with a code, a message a person can act on, and the field at fault."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = dict(details or {})
        if field is not None:
            self.details.setdefault("field", field)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed's error shape; the message is clipped so a refusal never echoes a huge value."""
    return {
        "error": {
            "code": code,
            "message": strict_json.clip(message, MAX_MESSAGE_CHARS),
            "details": details or {},
        },
        "timestamp": utc_now_iso(),
    }


def recorded_error(code: str | None, message: str | None) -> dict[str, str | None] | None:
    """A stored failure as the APIs show it, ``{"code", "message"}``; None if there is none."""
    if code is None and message is None:
        return None
    return {"code": code, "message": message}


def error_response(error: ApiError) -> Response:
    response = jsonify(error_body(error.code, error.message, error.details))
    response.status_code = error.status
    return response


def http_error_body(status: int, message: str) -> dict[str, Any]:
    """The error body for an HTTP status with no code of its own (the server's refusals)."""
    return error_body(_HTTP_CODES.get(status, "HTTP_ERROR"), message)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    417: "EXPECTATION_FAILED",
    429: "RATE_LIMITED",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
}


def _database_unavailable(error: Exception) -> bool:
    """The database went away or refused (a restart, a lock past its timeout).  Looked up
    in ``sys.modules``: a process that never loaded SQLAlchemy (the supervisor's control
    API) cannot have raised its errors, and need not load it to say so."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.OperationalError | exc.DisconnectionError)


def install(app: Flask, service: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Install the error handlers, the body-size limit and correlation ids on ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        response = error_response(ApiError(code, error.description or error.name, status))
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if _database_unavailable(error):
            # the database went away or refused (a restart, a lock past its timeout):
            # nothing wrong with the request, which may be sent again
            log.warning("database unavailable in %s %s: %s", request.method, request.path, error)
            return error_response(
                ApiError("DATABASE_UNAVAILABLE", "the database did not answer; retry", 503)
            )
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(
            ApiError("INTERNAL_ERROR", "unexpected error; see the service log", 500)
        )

    @app.before_request
    def _correlation() -> None:
        # The id travels as an AMQP property (255 bytes at most) and in mail and HTTP
        # headers: a value outside the one rule is refused here, never cut or published.
        value = request.headers.get(CORRELATION_HEADER)
        valid = value is not None and valid_correlation_id(value)
        g.correlation_id = value if valid else uuid.uuid4().hex
        jsonlog.correlation_id.set(g.correlation_id)
        if value is not None and not valid:
            raise ApiError(
                "INVALID_HEADER",
                f"{CORRELATION_HEADER} must be {CORRELATION_ID_RULE}; leave it out to get one",
                field=CORRELATION_HEADER,
            )

    @app.after_request
    def _echo_correlation(response: Response) -> Response:
        cid = g.get("correlation_id")
        if cid:
            response.headers[CORRELATION_HEADER] = cid
        response.headers.setdefault("X-Service", service)
        return response


def correlation_id() -> str:
    """The request's correlation id (``_correlation`` set it before the view ran)."""
    return str(g.correlation_id)


def checked_header(name: str, pattern: re.Pattern[str], code: str, expected: str) -> str | None:
    """Request header ``name``, None when absent; 400 ``code`` when ``pattern`` does not
    match it (``expected`` says, to the caller, what would)."""
    value = request.headers.get(name)
    if value is not None and not pattern.match(value):
        raise ApiError(code, f"{name} must be {expected}", field=name)
    return value


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a clear 400 (413 past the size limit)."""
    if not request.is_json:
        raise ApiError(
            "INVALID_JSON", "request body must be a JSON object (Content-Type: application/json)"
        )
    try:
        data = strict_json.loads(request.get_data(cache=True))
    except strict_json.JsonError as exc:
        raise ApiError("INVALID_JSON", f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError("INVALID_JSON", "request body must be a JSON object, not an array or value")
    return data


_POSITIVE = re.compile(r"[0-9]{1,9}")


def query_int(
    name: str, default: int, maximum: int, *, code: str = "INVALID_PAGINATION", status: int = 400
) -> int:
    """Query parameter ``name`` as an integer from 1 to ``maximum``, or ``default`` when absent.

    Only plain ASCII digits count: ``+1``, `` 1``, ``1.0`` and full-width digits (which
    ``int()`` would read) are refused, the same way by every service.
    """
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _POSITIVE.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise ApiError(code, f"{name} must be an integer from 1 to {maximum}", status, field=name)
    return int(raw)
