"""The provider's webhooks (seed 004): verified, de-duplicated, applied once, in any order.

A delivery is refused, with no state change, unless its ``Stripe-Signature`` is an
HMAC-SHA256 of ``<t>.<body>`` under the endpoint secret and ``t`` is within the
tolerance of our clock (an old delivery replayed later fails there).  A verified event
is recorded by provider event id in the same transaction as the change it causes, so a
redelivered event changes nothing.

Order does not matter because every rule moves a payment forward only:

- ``payment_intent.succeeded``: pending or failed -> completed (an intent may succeed
  after a declined attempt; nothing moves a payment back from completed);
- ``payment_intent.payment_failed``: pending, or failed by a gateway error -> failed;
  ignored once the payment completed (a late failure of an earlier attempt);
- ``payment_intent.canceled``: pending, failed (intent flow) or failed by a gateway
  error -> cancelled.

Everything else (charges, refunds, intents of other systems) is acknowledged and
recorded only.  A state-changing event for an intent of ours that has no payment yet
(its row is not committed) is answered 409, so the provider delivers it again later.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sandbox import signing
from sandbox.services.common.web import ApiError
from sandbox.services.payment import events, model
from sandbox.services.payment.handlers import Deps
from sandbox.services.payment.model import Payment
from sandbox.services.payment.provider import map_decline
from sandbox.services.payment.replies import Reply
from sandbox.services.payment.storage import Tx
from sandbox.services.payment.storage_requests import record_webhook, webhook_outcome

log = logging.getLogger(__name__)

_SIGNATURE_CODES = {
    "missing_signature": "WEBHOOK_SIGNATURE_MISSING",
    "malformed_signature": "WEBHOOK_SIGNATURE_INVALID",
    "invalid_signature": "WEBHOOK_SIGNATURE_INVALID",
    "stale_signature": "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
}
_CANCEL_REASONS = {
    "duplicate": "duplicate payment",
    "fraudulent": "cancelled as fraudulent",
    "requested_by_customer": "cancelled at the customer's request",
    "abandoned": "abandoned by the customer",
}


def verify(deps: Deps, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The verified event, or an ApiError that says why the delivery was refused."""
    secret = deps.settings.webhook_secret
    if not secret:
        raise ApiError(
            "WEBHOOK_NOT_CONFIGURED",
            "PAYMENT_WEBHOOK_SECRET is not set; webhooks cannot be verified",
            503,
        )
    try:
        signing.verify(secret, payload, signature, tolerance_s=deps.settings.webhook_tolerance_s)
    except signing.SignatureError as exc:
        raise ApiError(
            _SIGNATURE_CODES.get(exc.code, "WEBHOOK_SIGNATURE_INVALID"),
            f"webhook refused: {exc}",
            400,
            details={"reason": exc.code},
        ) from None
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        event = None
    valid = (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    )
    if not valid:
        raise ApiError(
            "INVALID_WEBHOOK_PAYLOAD", "the webhook body is not a provider event (id, type, data)"
        )
    assert isinstance(event, dict)
    return event


# Events that change a payment and so must wait for it (a cancelled intent without a
# payment is one the service abandoned after losing a race for the booking).
_STATE_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})


def _ours(obj: dict[str, Any]) -> bool:
    metadata = obj.get("metadata")
    return isinstance(metadata, dict) and isinstance(metadata.get("transaction_id"), str)


def _payment_for(deps: Deps, obj: dict[str, Any]) -> Payment | None:
    if obj.get("object") == "payment_intent":
        intent_id = obj.get("id")
    else:
        intent_id = obj.get("payment_intent")
    if isinstance(intent_id, str):
        found = deps.storage.find_by_intent(intent_id)
        if found is not None:
            return found
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    transaction_id = metadata.get("transaction_id") if metadata else None
    if isinstance(transaction_id, str) and obj.get("object") == "payment_intent":
        found = deps.storage.get_payment(transaction_id)
        # The intent id must agree: metadata alone is not proof of ownership.
        if found is not None and found.provider_intent_id == intent_id:
            return found
    return None


def handle(deps: Deps, payload: bytes, signature: str | None) -> Reply:
    event = verify(deps, payload, signature)
    event_id, event_type = event["id"][:255], event["type"][:128]
    obj: dict[str, Any] = event["data"]["object"]
    found = _payment_for(deps, obj)
    if found is None and event_type in _STATE_EVENTS and _ours(obj):
        # Ours but not committed yet (or never will be): the provider retries later.
        raise ApiError(
            "WEBHOOK_PAYMENT_NOT_FOUND_YET",
            f"no payment for {obj.get('id')} yet; deliver again later",
            409,
        )
    with deps.storage.begin() as tx:
        if not record_webhook(tx, event_id, event_type):
            outcome = "duplicate"
        else:
            payment = tx.get_payment(found.id, lock=True) if found is not None else None
            outcome = "unknown_payment" if payment is None else _apply(tx, payment, event_type, obj)
            webhook_outcome(tx, event_id, payment.id if payment else None, outcome)
            if payment is not None:
                tx.timeline(payment.id, "webhook", detail=f"{event_type} {event_id}: {outcome}")
    log.info(
        "webhook %s %s: %s",
        event_type,
        event_id,
        outcome,
        extra={"fields": {"transaction_id": found.id if found else None}},
    )
    return Reply(200, {"received": True, "event_id": event_id, "outcome": outcome})


def _apply(tx: Tx, payment: Payment, event_type: str, obj: dict[str, Any]) -> str:
    at = model.now()
    if event_type == "payment_intent.succeeded":
        done = tx.transition(
            payment,
            model.COMPLETED,
            expect=(model.PENDING, model.FAILED),
            any_failed=True,
            detail="payment intent succeeded (webhook)",
            at=at,
            processed_at=at,
            retryable=False,
            error_code=None,
            error_message=None,
        )
        if done is None:
            return f"ignored: payment is {payment.status}"
        tx.emit(done.id, [events.state_event("payment.completed", done, at)])
        return "completed"
    if event_type == "payment_intent.payment_failed":
        raw_error = obj.get("last_payment_error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        decline = map_decline(error.get("code"), error.get("decline_code"), error.get("message"))
        failed = tx.transition(
            payment,
            model.FAILED,
            expect=(model.PENDING, model.FAILED),
            detail=f"payment intent failed (webhook): {decline.code}",
            at=at,
            processed_at=at,
            retryable=False,
            error_code=decline.code,
            error_message=decline.message,
        )
        if failed is None:
            return f"ignored: payment is {payment.status}"
        tx.emit(failed.id, [events.state_event("payment.failed", failed, at)])
        return "failed"
    if event_type == "payment_intent.canceled":
        why = str(obj.get("cancellation_reason"))
        # a cancellation the API asked for keeps the caller's reason, whichever path wins
        reason = tx.requested_cancel_reason(payment.id) or _CANCEL_REASONS.get(
            why, "cancelled at the provider"
        )
        cancelled = tx.transition(
            payment,
            model.CANCELLED,
            expect=(model.PENDING, model.FAILED),
            # a declined intent may still be retried by its client, so cancelling it is
            # news; a card payment given up after a gateway error is settled already
            any_failed=payment.flow == model.INTENT_FLOW,
            detail=f"payment intent cancelled (webhook): {reason}",
            at=at,
            processed_at=at,
            retryable=False,
        )
        if cancelled is None:
            return f"ignored: payment is {payment.status}"
        tx.emit(cancelled.id, [events.cancelled_event(cancelled, reason, at)])
        return "cancelled"
    return "recorded"
