"""HTTP conventions shared by every service: one error shape, correlation ids, validation.

Errors follow seed 003's format everywhere, for every refusal, including the ones Flask
raises itself (404, 405, bad JSON) and unexpected exceptions::

    {"error": {"code": "INVALID_AMOUNT", "message": "...", "details": {"field": "amount"}},
     "timestamp": "2024-12-15T10:30:45Z"}

Request bodies are validated against the service's own OpenAPI document (contract
first): the schema in the document is the validation, so the two cannot drift.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, Response, g, jsonify, request
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.exceptions import HTTPException

from sandbox.messaging.envelope import (
    CORRELATION_HEADER,
    CORRELATION_ID_RULE,
    valid_correlation_id,
)
from sandbox.services.common import jsonlog

log = logging.getLogger(__name__)


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


def error_response(error: ApiError) -> Response:
    response = jsonify(
        {
            "error": {"code": error.code, "message": error.message, "details": error.details},
            "timestamp": utc_now_iso(),
        }
    )
    response.status_code = error.status
    return response


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def install(app: Flask, service: str) -> None:
    """Install the error handlers and correlation-id handling on ``app``."""

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


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a clear 400."""
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(
            "INVALID_JSON", "request body must be a JSON object (Content-Type: application/json)"
        )
    if not isinstance(data, dict):
        raise ApiError("INVALID_JSON", "request body must be a JSON object, not an array or value")
    return data


class OpenApiDocument:
    """A service's OpenAPI 3.1 document, loaded once, validating request bodies."""

    URI = "urn:service-openapi"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.document: dict[str, Any] = yaml.safe_load(path.read_text())
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(self.URI, resource)
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}

    def _validator(self, method: str, path_template: str) -> Draft202012Validator | None:
        key = (method.lower(), path_template)
        if key not in self._validators:
            operation = self.document.get("paths", {}).get(path_template, {}).get(key[0], {})
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                return None
            pointer = "/".join(
                part.replace("~", "~0").replace("/", "~1")
                for part in (
                    "paths",
                    path_template,
                    key[0],
                    "requestBody",
                    "content",
                    "application/json",
                    "schema",
                )
            )
            self._validators[key] = Draft202012Validator(
                {"$ref": f"{self.URI}#/{pointer}"},
                registry=self._registry,
                format_checker=FormatChecker(),
            )
        return self._validators[key]

    def validate_body(
        self, method: str, path_template: str, body: dict[str, Any], code: str
    ) -> None:
        """Raise ApiError(422, code) naming the first failing field, if any."""
        validator = self._validator(method, path_template)
        if validator is None:
            return
        errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.path), e.message))
        if not errors:
            return
        error = _most_specific(errors[0])
        field = ".".join(str(p) for p in error.absolute_path) or _missing_field(error)
        raise ApiError(code, _describe(error, field), 422, field=field or None)


def _most_specific(error: ValidationError) -> ValidationError:
    while error.context:
        error = min(error.context, key=lambda e: len(e.path))
    return error


def _missing_field(error: ValidationError) -> str:
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        return missing[0] if missing else ""
    return ""


def _describe(error: ValidationError, field: str) -> str:
    if error.validator == "required":
        return f"{field} is required"
    if error.validator == "additionalProperties":
        return f"unknown field: {error.message}"
    where = field or "request body"
    return f"{where}: {error.message}"
