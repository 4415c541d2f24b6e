"""Decide what the merchant answers to one callback and what it records about it.

Order matters and mirrors a real merchant behind a flaky load balancer: an injected
failure answers before anything is checked (the endpoint is "down"), then the signature
is checked (401 when missing, malformed, wrong or stale), then the body must be a JSON
object, and only then is the callback accepted, or marked duplicate when its idempotency
key (the ``Idempotency-Key`` header, else the body's event id) was accepted before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mocks.merchant.faults import FaultPolicy
from mocks.merchant.settings import MerchantMockSettings
from mocks.merchant.store import CallbackRecord, CallbackStore
from sandbox import strict_json
from sandbox.signing import SignatureError, parse, verify

# Where ids live in the notifier's payload: top level, or inside these wrapper objects.
_NESTED = ("payment", "data", "event")


@dataclass(frozen=True)
class Incoming:
    """The parts of an HTTP request the merchant looks at."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class Reply:
    """The HTTP answer to send back."""

    status: int
    body: dict[str, Any]


def receive(
    incoming: Incoming,
    settings: MerchantMockSettings,
    store: CallbackStore,
    faults: FaultPolicy,
    delay_ms: int = 0,
    now: datetime | None = None,
) -> tuple[CallbackRecord, Reply]:
    """Verify, classify and record one callback; return the record and the reply."""
    received_at = now or datetime.now(UTC)
    signature = incoming.header(settings.signature_header)
    sig_error: SignatureError | None = None
    sig_timestamp: int | None = None
    try:
        sig_timestamp = verify(
            settings.secret,
            incoming.body,
            signature,
            tolerance_s=settings.tolerance_s,
            now=received_at.timestamp(),
        )
    except SignatureError as error:
        sig_error = error
        sig_timestamp = _timestamp_of(signature)
    body, body_error = _parse(incoming.body)
    record = CallbackRecord(
        received_at=received_at,
        outcome="accepted",
        status=200,
        reason=None,
        message=None,
        method=incoming.method,
        path=incoming.path,
        headers=incoming.headers,
        raw_body=incoming.body.decode("utf-8", errors="replace"),
        body=body,
        payment_id=_field(body, "paymentId", "payment_id"),
        event_id=_field(body, "eventId", "event_id"),
        correlation_id=incoming.header("X-Correlation-Id")
        or _field(body, "correlationId", "correlation_id"),
        idempotency_key=incoming.header("Idempotency-Key") or _field(body, "eventId", "event_id"),
        signature_valid=sig_error is None,
        signature_timestamp=sig_timestamp,
        delay_ms=delay_ms,
    )
    failure = faults.take_failure()
    if failure is not None:
        message = f"mock merchant was told to fail with {failure}"
        return _refuse(store, record, "failed", failure, "injected_failure", message, None)
    if sig_error is not None:
        return _refuse(
            store,
            record,
            "rejected",
            401,
            sig_error.code,
            str(sig_error),
            settings.signature_header,
        )
    if body_error is not None:
        return _refuse(store, record, "rejected", 400, "invalid_json", body_error, None)
    saved = store.add(record)
    if saved.outcome == "duplicate":
        reply = {"status": "duplicate", "id": saved.id, "duplicate_of": saved.duplicate_of}
    else:
        reply = {"status": "accepted", "id": saved.id}
    return saved, Reply(200, reply)


def _refuse(
    store: CallbackStore,
    record: CallbackRecord,
    outcome: str,
    status: int,
    code: str,
    message: str,
    field: str | None,
) -> tuple[CallbackRecord, Reply]:
    saved = store.add(replace(record, outcome=outcome, status=status, reason=code, message=message))
    error = {"code": code, "message": message, "field": field, "record_id": saved.id}
    return saved, Reply(status, {"error": error})


def _timestamp_of(signature: str | None) -> int | None:
    """Return the t= of a signature header that failed verification, when it has one."""
    try:
        return parse(signature)[0] if signature else None
    except SignatureError:
        return None


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """Return the body as a JSON object, or None and why it is not one."""
    try:
        body = strict_json.loads(raw)
    except strict_json.JsonError as exc:
        return None, f"callback body is not valid JSON: {exc}"
    if not isinstance(body, dict):
        return body, "callback body must be a JSON object"
    return body, None


def _field(body: Any, *names: str) -> str | None:
    """Find the first of ``names`` at the top level of ``body`` or in a wrapper object."""
    if not isinstance(body, Mapping):
        return None
    scopes = [body, *(body[k] for k in _NESTED if isinstance(body.get(k), Mapping))]
    for scope in scopes:
        for name in names:
            value = scope.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None
