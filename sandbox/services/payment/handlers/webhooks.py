"""The provider's webhooks (seed 004): verified, de-duplicated, applied once, in any order.

A delivery is refused, with no state change, unless the stripe SDK verifies it
(``provider_webhooks``): its ``Stripe-Signature`` is an HMAC-SHA256 of ``<t>.<body>``
under the endpoint secret, and ``t`` is neither older than the tolerance (an old
delivery replayed later fails there) nor more than a minute ahead of our clock.  A verified event
is recorded by provider event id in the same transaction as the change it causes, so a
redelivered event changes nothing.

Each changing event is a move of the state machine (``model.TRANSITIONS``), and order
does not matter because every move goes forward only:

- ``payment_intent.succeeded`` (``SUCCEED``): pending or failed -> completed (an intent
  may succeed after a declined attempt; nothing moves a payment back from completed);
- ``payment_intent.payment_failed`` (``DECLINE``): pending, or failed by a gateway
  error -> failed; ignored once the payment completed (a late failure of an earlier
  attempt);
- ``payment_intent.canceled`` (``CANCEL``): pending, failed (intent flow) or failed by
  a gateway error -> cancelled.

Everything else (charges, refunds, intents of other systems) is acknowledged and
recorded only.  A state-changing event for an intent of ours that has no payment yet
(its row is not committed) is answered 409, so the provider delivers it again later.

A valid signature proves who sent an event, not that what it says is so.  Before a
change is made the event is checked twice (``_claims``, ``_confirm``):

- its object must agree with our record of the payment: the intent's ``amount`` and
  ``currency``, and the ``tenant_id`` and ``transaction_id`` metadata we gave the
  intent (charges and refunds: whichever of that metadata they carry);
- the provider's own intent, retrieved once, must agree with our record the same way
  and be in the state the event reports (``succeeded``; ``canceled``;
  ``requires_payment_method`` with a payment error for a failure).  A failure reported
  after the intent moved on (a later attempt succeeded) is stale and ignored.

An event that disagrees changes nothing, adds nothing to the payment's timeline, is
logged at WARNING (ids, amounts and statuses only) and is answered 200 with outcome
``rejected: <what>`` and a ``reason``: the provider would only deliver it again, and a
second delivery is a duplicate.  A provider that does not answer the check is a 502,
which the provider retries.  Events already applied (a duplicate id, or a change the
payment has made already) need no provider call and stay idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sandbox.services.payment import model, provider_webhooks
from sandbox.services.payment.handlers.base import Deps, WebhookHandled, gateway_error, move
from sandbox.services.payment.model import Payment, PaymentError
from sandbox.services.payment.provider import GatewayError, Intent, ProviderRefused, map_decline
from sandbox.services.payment.storage import Tx
from sandbox.services.payment.storage_requests import record_webhook, webhook_outcome

log = logging.getLogger(__name__)

_REFUSALS = {
    provider_webhooks.MISSING: "WEBHOOK_SIGNATURE_MISSING",
    provider_webhooks.INVALID: "WEBHOOK_SIGNATURE_INVALID",
    provider_webhooks.STALE: "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
    provider_webhooks.FUTURE: "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
    provider_webhooks.NOT_AN_EVENT: "INVALID_WEBHOOK_PAYLOAD",
}
_CANCEL_REASONS = {
    "duplicate": "duplicate payment",
    "fraudulent": "cancelled as fraudulent",
    "requested_by_customer": "cancelled at the customer's request",
    "abandoned": "abandoned by the customer",
}


def verify(deps: Deps, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The verified event, or a PaymentError that says why the delivery was refused."""
    secret = deps.settings.webhook_secret
    if not secret:
        raise PaymentError(
            "WEBHOOK_NOT_CONFIGURED",
            "PAYMENT_WEBHOOK_SECRET is not set; webhooks cannot be verified",
        )
    try:
        event = provider_webhooks.construct_event(
            payload, signature, secret, tolerance_s=deps.settings.webhook_tolerance_s
        )
    except provider_webhooks.WebhookRefused as exc:
        code = _REFUSALS.get(exc.reason, "WEBHOOK_SIGNATURE_INVALID")
        raise PaymentError(code, f"webhook refused: {exc.message}", reason=exc.reason) from None
    data = event.get("data")
    valid = (
        isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    )
    if not valid:
        raise PaymentError(
            "INVALID_WEBHOOK_PAYLOAD", "the webhook body is not a provider event (id, type, data)"
        )
    return event


# Events that change a payment and so must wait for it (a cancelled intent without a
# payment is one the service abandoned after losing a race for the booking).
_STATE_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})
FAILED_EVENT = "payment_intent.payment_failed"
# The provider state each changing event reports; the change is made only in that state.
_REPORTED = {
    "payment_intent.succeeded": "succeeded",
    FAILED_EVENT: "requires_payment_method",
    "payment_intent.canceled": "canceled",
}
# The state machine's event each of them is.
_MOVES = {
    "payment_intent.succeeded": model.SUCCEED,
    FAILED_EVENT: model.DECLINE,
    "payment_intent.canceled": model.CANCEL,
}

APPLY, STALE, REJECT = "apply", "stale", "reject"


@dataclass(frozen=True)
class Verdict:
    """What the checks found: apply, stale (ignored) or reject, and why."""

    kind: str
    code: str = ""
    reason: str = ""
    intent: Intent | None = None


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


def _show(value: Any) -> str:
    """A value from a delivery, short enough for a log line."""
    return repr(value)[:40]


def _claims(obj: dict[str, Any], payment: Payment) -> Verdict | None:
    """Where a provider object disagrees with our record of the payment; None: nowhere.

    A payment intent must carry our metadata, amount and currency; a charge or refund
    is checked on the metadata it carries.
    """
    raw = obj.get("metadata")
    metadata: dict[str, Any] = raw if isinstance(raw, dict) else {}
    intent = obj.get("object") == "payment_intent"
    for key, ours, code in (
        ("tenant_id", payment.tenant_id, "tenant_mismatch"),
        ("transaction_id", payment.id, "transaction_mismatch"),
    ):
        value = metadata.get(key)
        if value != ours and (intent or value is not None):
            return Verdict(REJECT, code, f"metadata {key} {_show(value)} is not the payment's")
    if not intent:
        return None
    amount = obj.get("amount")
    if type(amount) is not int or amount != payment.amount_minor:
        reason = f"amount {_show(amount)} is not the payment's {payment.amount_minor}"
        return Verdict(REJECT, "amount_mismatch", reason)
    currency = obj.get("currency")
    if not isinstance(currency, str) or currency.upper() != payment.currency:
        reason = f"currency {_show(currency)} is not the payment's {payment.currency}"
        return Verdict(REJECT, "currency_mismatch", reason)
    return None


def _applies(payment: Payment, event_type: str) -> bool:
    """Whether the change the event reports is still to be made: a move of the machine."""
    return event_type in _MOVES and model.allows(payment, _MOVES[event_type])


def _confirm(deps: Deps, payment: Payment, event_type: str) -> Verdict:
    """Ask the provider whether its intent is in the state the event reports."""
    assert payment.provider_intent_id is not None
    try:
        intent = deps.provider.retrieve_intent(payment.provider_intent_id)
    except GatewayError as exc:
        raise gateway_error(exc.message) from None
    except ProviderRefused as exc:
        return Verdict(REJECT, "unknown_intent", f"the provider refused to show it: {exc.message}")
    as_object = {
        "object": "payment_intent",
        "amount": intent.amount_minor,
        "currency": intent.currency,
        "metadata": intent.metadata,
    }
    disagreement = _claims(as_object, payment)
    if disagreement is not None:
        return Verdict(REJECT, disagreement.code, f"the provider's {disagreement.reason}")
    wanted = _REPORTED[event_type]
    failed_attempt = event_type != FAILED_EVENT or intent.decline is not None
    if intent.status == wanted and failed_attempt:
        return Verdict(APPLY, intent=intent)
    reason = f"the provider's intent is {intent.status}"
    if event_type == FAILED_EVENT and intent.status != wanted:
        return Verdict(STALE, reason=reason, intent=intent)  # it moved on since the failure
    detail = "" if failed_attempt else " without a payment error"
    return Verdict(REJECT, "status_mismatch", f"{reason}{detail}, not {wanted}", intent)


def _check(
    deps: Deps, payment: Payment | None, event_id: str, event_type: str, obj: dict[str, Any]
) -> Verdict | None:
    """The event checked against our record and, when it would change the payment, the
    provider; None when there is nothing to check or to change."""
    if payment is None:
        return None
    disagreement = _claims(obj, payment)
    if disagreement is not None:
        return Verdict(REJECT, disagreement.code, f"the event's {disagreement.reason}")
    if event_type not in _REPORTED or not _applies(payment, event_type):
        return None
    if deps.requests.webhook_seen(event_id):
        return None  # a redelivery: recorded as a duplicate without asking anyone
    return _confirm(deps, payment, event_type)


def handle(deps: Deps, payload: bytes, signature: str | None) -> WebhookHandled:
    event = verify(deps, payload, signature)
    event_id, event_type = event["id"][:255], event["type"][:128]
    obj: dict[str, Any] = event["data"]["object"]
    found = _payment_for(deps, obj)
    if found is None and event_type in _STATE_EVENTS and _ours(obj):
        # Ours but not committed yet (or never will be): the provider retries later.
        raise PaymentError(
            "WEBHOOK_PAYMENT_NOT_FOUND_YET",
            f"no payment for {_show(obj.get('id'))} yet; deliver again later",
        )
    verdict = _check(deps, found, event_id, event_type, obj)
    with deps.storage.begin() as tx:
        if not record_webhook(tx, event_id, event_type):
            outcome = "duplicate"
        else:
            payment = tx.get_payment(found.id, lock=True) if found is not None else None
            outcome = _outcome(tx, payment, event_type, obj, verdict)
            webhook_outcome(tx, event_id, payment.id if payment else None, outcome[:64])
            if payment is not None and not outcome.startswith("rejected"):
                tx.timeline(payment.id, "webhook", detail=f"{event_type} {event_id}: {outcome}")
    fields = {"transaction_id": found.id if found else None, "event_id": event_id}
    if verdict is not None and verdict.kind == REJECT and outcome.startswith("rejected"):
        log.warning(
            "webhook %s %s rejected: %s",
            event_type,
            event_id,
            verdict.reason,
            extra={"fields": {**fields, "tenant": found.tenant_id if found else None}},
        )
        return WebhookHandled(event_id, outcome, verdict.reason)
    log.info("webhook %s %s: %s", event_type, event_id, outcome, extra={"fields": fields})
    return WebhookHandled(event_id, outcome)


def _outcome(
    tx: Tx,
    payment: Payment | None,
    event_type: str,
    obj: dict[str, Any],
    verdict: Verdict | None,
) -> str:
    if payment is None:
        return "unknown_payment"
    if verdict is not None and verdict.kind == REJECT:
        return f"rejected: {verdict.code}"
    if event_type in _REPORTED and _applies(payment, event_type):
        if verdict is None:  # the payment moved back since it was read: never, but be sure
            raise PaymentError(
                "WEBHOOK_PAYMENT_CHANGED",
                "the payment changed while the event was checked; deliver again later",
            )
        if verdict.kind == STALE:
            return f"ignored: {verdict.reason}"
    return _apply(tx, payment, event_type, obj, verdict.intent if verdict else None)


def _apply(
    tx: Tx, payment: Payment, event_type: str, obj: dict[str, Any], intent: Intent | None
) -> str:
    event = _MOVES.get(event_type)
    if event is None:
        return "recorded"
    at = model.now()
    changes: dict[str, Any] = {"processed_at": at}
    reason = None
    if event == model.SUCCEED:
        detail = "payment intent succeeded (webhook, confirmed with the provider)"
        changes.update(error_code=None, error_message=None)
    elif event == model.DECLINE:
        decline = intent.decline if intent is not None else None
        if decline is None:
            raw_error = obj.get("last_payment_error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            decline = map_decline(
                error.get("code"), error.get("decline_code"), error.get("message")
            )
        detail = f"payment intent failed (webhook): {decline.code}"
        changes.update(error_code=decline.code, error_message=decline.message)
    else:
        why = str(obj.get("cancellation_reason"))
        # a cancellation the API asked for keeps the caller's reason, whichever path wins
        reason = tx.requested_cancel_reason(payment.id) or _CANCEL_REASONS.get(
            why, "cancelled at the provider"
        )
        detail = f"payment intent cancelled (webhook): {reason}"
    if move(tx, payment, event, detail=detail, at=at, reason=reason, **changes) is None:
        return f"ignored: payment is {payment.status}"
    return _OUTCOMES[event]


_OUTCOMES = {model.SUCCEED: "completed", model.DECLINE: "failed", model.CANCEL: "cancelled"}
