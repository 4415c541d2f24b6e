"""Parse and check control and query input; every failure is an ApiError naming the field."""

from __future__ import annotations

from typing import Any

from flask import Request

from mocks.common.errors import ApiError
from mocks.common.inputs import int_in
from mocks.merchant.faults import FAIL_MODES, MAX_DELAY_MS, FailMode
from mocks.merchant.store import OUTCOMES, RecordFilter


def fail_mode(body: dict[str, Any]) -> FailMode:
    """Turn a fail-control body into a FailMode.

    ``mode`` defaults to ``count`` when ``count`` is given and to ``always`` otherwise;
    ``count`` defaults to 1 and ``status`` to 500; fields a mode does not use are ignored.
    """
    mode = body.get("mode", "count" if "count" in body else "always")
    if mode not in FAIL_MODES:
        raise ApiError(400, "invalid_field", f"mode must be one of {list(FAIL_MODES)}", "mode")
    status = int_in(body.get("status", 500), 400, 599)
    if status is None:
        message = "status must be an HTTP status from 400 to 599"
        raise ApiError(400, "invalid_field", message, "status")
    count = int_in(body.get("count", 1), 1)
    if count is None:
        raise ApiError(400, "invalid_field", "count must be an integer >= 1", "count")
    if mode == "off":
        return FailMode()
    return FailMode(mode, status, count if mode == "count" else None)


def delay_ms(body: dict[str, Any]) -> int:
    """Return the latency asked for in a latency-control body."""
    value = int_in(body.get("delay_ms"), 0, MAX_DELAY_MS)
    if value is None:
        message = f"delay_ms must be an integer from 0 to {MAX_DELAY_MS}"
        raise ApiError(400, "invalid_field", message, "delay_ms")
    return value


def record_filter(request: Request) -> RecordFilter:
    """Build a RecordFilter from the query string (camelCase and snake_case names both work)."""
    args = request.args
    outcome = args.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ApiError(400, "invalid_query", f"outcome must be one of {list(OUTCOMES)}", "outcome")
    return RecordFilter(
        payment_id=args.get("paymentId") or args.get("payment_id"),
        correlation_id=args.get("correlation_id") or args.get("correlationId"),
        outcome=outcome,
        idempotency_key=args.get("idempotency_key"),
    )
