"""Request-input helpers shared by the mocks; every failure is an ApiError naming the field."""

from __future__ import annotations

from typing import Any

from flask import Request

from mocks.common.errors import ApiError
from sandbox import strict_json


def json_object(request: Request, allowed: set[str] | None = None) -> dict[str, Any]:
    """Return the body as a JSON object (with only ``allowed`` fields if given), or a 400."""
    try:
        body = strict_json.loads(request.get_data(cache=True) or b"null")
    except strict_json.JsonError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    if allowed is not None:
        for name in body:
            if name not in allowed:
                message = f"unknown field; allowed: {sorted(allowed)}"
                raise ApiError(400, "unknown_field", message, strict_json.clip(name, 100))
    return body


def int_in(value: Any, low: int, high: int | None = None) -> int | None:
    """Return ``value`` as an int when it is a JSON integer in [low, high], else None.

    JSON Schema counts 451.0 as an integer, so integral floats are accepted too.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    return number if low <= number and (high is None or number <= high) else None
