"""Opening payments, charging cards, intents and reconciliation: plain functions.

Card payment (``process_payment``), in order:

1. the booking must be the tenant's (``bookings.py``: BOOKING_NOT_FOUND otherwise) and
   free (DUPLICATE_TRANSACTION otherwise; a holder left failed by a gateway error is
   reconciled with the provider first);
2. a provider PaymentIntent is created (idempotency key ``<txn>-intent``);
3. one transaction inserts the payment ``pending`` with its intent id and writes
   ``payment.created``;
4. the card becomes a provider PaymentMethod (``<txn>-card``) and confirms the intent
   (``<txn>-confirm``);
5. one transaction moves the payment (``SUCCEED``, ``DECLINE`` or ``GATEWAY_FAIL``)
   and writes ``payment.completed`` or ``payment.failed`` and, for a success or a
   decline, the answer stored under the request's Idempotency-Key (``Context.answer``,
   so that a retry replays exactly what committed); or, when the card issuer asks
   the customer to authenticate (3D Secure, the intent ``requires_action``), the payment
   stays pending and the answer says where the customer authenticates: the provider's
   webhook then completes or fails it, as in the intent flow.

A gateway failure in step 2 records nothing (no charge can follow an intent nobody
confirms); in step 4 it leaves the payment ``failed`` and retryable: a retry with the
same Idempotency-Key repeats step 4 with the same provider keys, so the provider
charges at most once.  The intent flow (``create_intent``) stops after step 3; the
provider's webhooks finish it (``webhooks.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sandbox.services.payment import events, model
from sandbox.services.payment.bookings import ensure_payable
from sandbox.services.payment.handlers.base import (
    Charged,
    Context,
    Deps,
    IntentOpened,
    PaymentRequest,
    gateway_error,
    move,
)
from sandbox.services.payment.model import CardInput, Payment, PaymentError
from sandbox.services.payment.provider import (
    OPEN_STATUSES,
    CardDeclined,
    CardMethod,
    Decline,
    GatewayError,
    Intent,
    ProviderRefused,
)
from sandbox.services.payment.storage import Tx
from sandbox.services.payment.storage_requests import link_idempotency

log = logging.getLogger(__name__)

# stores the request's answer in the transaction that records the outcome (``Context``)
Answer = Callable[[Tx, Charged], None]


# -- opening a payment --------------------------------------------------------------------


def _metadata(payment: Payment) -> dict[str, str]:
    return {
        "transaction_id": payment.id,
        "tenant_id": payment.tenant_id,
        "booking_id": payment.booking_id,
    }


def _duplicate(holder: Payment) -> PaymentError:
    return PaymentError(
        "DUPLICATE_TRANSACTION",
        f"booking {holder.booking_id} already has payment {holder.id} ({holder.status})",
        transaction_id=holder.id,
        status=holder.status,
        booking_id=holder.booking_id,
    )


def _abandoned(deps: Deps, holder: Payment) -> bool:
    """A payment whose outcome is unknown: a gateway error, or a card payment whose
    process died mid-way (pending far longer than any provider call may take)."""
    if holder.status == model.FAILED:
        return holder.retryable
    stale = timedelta(seconds=deps.settings.idempotency_stale_s)
    return (
        holder.status == model.PENDING
        and holder.flow == model.CARD_FLOW
        and model.now() - holder.updated_at > stale
    )


def _ensure_booking_free(deps: Deps, tenant_id: str, booking_id: str) -> None:
    holder = deps.storage.booking_holder(tenant_id, booking_id)
    if holder is not None and _abandoned(deps, holder):
        reconcile(deps, holder)
        holder = deps.storage.booking_holder(tenant_id, booking_id)
    if holder is not None:
        raise _duplicate(holder)


def _open(deps: Deps, ctx: Context, req: PaymentRequest, flow: str) -> tuple[Payment, Intent]:
    """Steps 1-3: a pending payment with its provider intent, and payment.created."""
    ensure_payable(deps.bookings, ctx.tenant_id, req.booking_id, ctx.correlation_id)
    _ensure_booking_free(deps, ctx.tenant_id, req.booking_id)
    at = model.now()
    opened = model.step(None, model.OPEN)
    payment = Payment(
        id=model.new_transaction_id(),
        tenant_id=ctx.tenant_id,
        booking_id=req.booking_id,
        user_id=req.user_id,
        amount_minor=req.amount_minor,
        currency=req.currency,
        payment_method=req.payment_method,
        flow=flow,
        status=opened.status,
        correlation_id=ctx.correlation_id,
        created_at=at,
        updated_at=at,
        customer=req.customer,
    )
    try:
        intent = deps.provider.create_intent(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            metadata=_metadata(payment),
            idempotency_key=f"{payment.id}-intent",
            receipt_email=payment.customer.email,
        )
    except GatewayError as exc:
        raise gateway_error(exc.message) from None
    except ProviderRefused as exc:
        raise PaymentError(
            "PAYMENT_REJECTED", f"the payment provider refused: {exc.message}"
        ) from None
    payment = payment.with_changes(provider_intent_id=intent.id)
    with deps.storage.begin_one_statement() as tx:
        tx.insert_payment(payment)
        if ctx.idempotency_key:
            link_idempotency(tx, ctx.tenant_id, ctx.idempotency_key, payment.id)
        assert opened.emits is not None
        tx.emit(payment.id, [events.message(opened.emits, payment, at)])
    if not tx.applied:
        # Lost a race with a concurrent request for the same booking.
        _abandon_intent(deps, payment)
        holder = deps.storage.booking_holder(ctx.tenant_id, req.booking_id) or payment
        raise _duplicate(holder) from None
    log.info(
        "payment opened",
        extra={"fields": {"transaction_id": payment.id, "flow": flow, "tenant": ctx.tenant_id}},
    )
    return payment, intent


def _abandon_intent(deps: Deps, payment: Payment) -> None:
    if payment.provider_intent_id is None:
        return
    try:
        deps.provider.cancel_intent(
            payment.provider_intent_id, idempotency_key=f"{payment.id}-abandon"
        )
    except (GatewayError, ProviderRefused) as exc:
        log.warning("could not cancel stray intent %s: %s", payment.provider_intent_id, exc)


# -- card payments ---------------------------------------------------------------------------


def process_payment(deps: Deps, ctx: Context, req: PaymentRequest) -> Charged:
    if req.payment_method == "stripe":
        raise PaymentError(
            "PAYMENT_METHOD_DISABLED",
            "payment method stripe is disabled (see GET /payment/methods)",
            field="payment_method",
        )
    if req.payment_method not in model.CARD_METHODS or req.card is None:
        raise PaymentError(
            "PAYMENT_METHOD_NOT_SUPPORTED",
            f"payment method {req.payment_method} cannot be processed by this service's "
            "card provider; use credit_card or debit_card",
            field="payment_method",
        )
    if ctx.resume_id is not None:
        previous = deps.storage.get_payment(ctx.resume_id, ctx.tenant_id)
        if previous is not None:
            if model.chargeable(previous):  # a first attempt that died or failed unknown
                return _charge(deps, previous, req.card, ctx.answer)
            return Charged(previous)
    payment, _intent = _open(deps, ctx, req, model.CARD_FLOW)
    return _charge(deps, payment, req.card, ctx.answer)


def _charge(deps: Deps, payment: Payment, card: CardInput, answer: Answer | None) -> Charged:
    """Steps 4 and 5: confirm the intent with the card; record the outcome (and, with
    ``answer``, the request's stored answer in the same transaction)."""
    assert payment.provider_intent_id is not None
    try:
        intent, method = deps.provider.confirm_with_card(
            payment.provider_intent_id, card, idempotency_key=f"{payment.id}-confirm"
        )
    except CardDeclined as exc:
        return declined(deps, payment, exc.decline, exc.card, answer)
    except GatewayError as exc:
        return _gateway_failed(deps, payment, exc.message)
    except ProviderRefused as exc:
        return _refused(deps, payment, exc, answer)
    if intent.status == "requires_action":
        return _awaiting_authentication(deps, payment, intent)
    if intent.status != "succeeded":
        why = f"the card needs {intent.status}, which this service does not support"
        return declined(deps, payment, Decline("CARD_DECLINED", why), method, answer)
    return completed(deps, payment, method, answer)


def _awaiting_authentication(deps: Deps, payment: Payment, intent: Intent) -> Charged:
    """The card issuer asks the customer to authenticate (3D Secure): nothing is charged
    yet.  The payment stays pending; the provider's webhook completes or fails it once
    the customer has answered, as in the intent flow."""
    with deps.storage.begin() as tx:
        current = tx.get_payment(payment.id) or payment
        if current.status == model.PENDING:
            detail = "the card issuer asks the customer to authenticate (3D Secure)"
            tx.timeline(payment.id, "provider", detail=detail)
    log.info("payment awaits authentication", extra={"fields": {"transaction_id": payment.id}})
    return Charged(current, authentication=intent)


def _refused(deps: Deps, payment: Payment, exc: ProviderRefused, answer: Answer | None) -> Charged:
    """The provider refused the card or the confirm for a reason that is not a decline."""
    if exc.card_refused:  # the card itself was refused
        return declined(deps, payment, Decline("INVALID_CARD", exc.message), None, answer)
    # The intent changed under us: cancelled, or completed on another path.
    if exc.intent is not None and exc.intent.status == "succeeded":
        return completed(deps, payment, None, answer)
    current = _current(deps, payment)
    if current.payment.status == model.PENDING and exc.intent is None:
        why = f"the payment provider refused the payment: {exc.message}"
        return declined(deps, payment, Decline("CARD_DECLINED", why), None, answer)
    return current


def _card_fields(method: CardMethod | None) -> dict[str, Any]:
    if method is None:
        return {}
    return {"card_brand": method.brand, "card_last4": method.last4}


def _charged(
    deps: Deps,
    payment: Payment,
    event: str,
    detail: str,
    *,
    answer: Answer | None = None,
    decline: Decline | None = None,
    **changes: Any,
) -> Payment | None:
    """Record what became of a charge: the machine's move for ``event``, in one
    transaction, with the request's ``answer`` (the outcome, and ``decline`` when there
    is one); None when another path (a webhook) moved the payment first."""
    at = model.now()
    with deps.storage.begin_one_statement() as tx:
        done = move(tx, payment, event, detail=detail, at=at, processed_at=at, **changes)
        if done is not None and answer is not None:
            answer(tx, Charged(done, decline))
    return done if tx.applied else None


def _current(deps: Deps, payment: Payment) -> Charged:
    """The payment as another path left it, after a move this one did not make."""
    current = deps.storage.get_payment(payment.id) or payment
    log.info(
        "payment already moved by a webhook",
        extra={"fields": {"transaction_id": current.id, "status": current.status}},
    )
    return Charged(current)


def completed(
    deps: Deps, payment: Payment, method: CardMethod | None, answer: Answer | None = None
) -> Charged:
    cleared = {"error_code": None, "error_message": None}
    done = _charged(
        deps,
        payment,
        model.SUCCEED,
        "charge succeeded",
        answer=answer,
        **cleared,
        **_card_fields(method),
    )
    if done is None:
        return _current(deps, payment)
    log.info("payment completed", extra={"fields": {"transaction_id": done.id}})
    return Charged(done)


def declined(
    deps: Deps,
    payment: Payment,
    decline: Decline,
    method: CardMethod | None,
    answer: Answer | None = None,
) -> Charged:
    error = {"error_code": decline.code, "error_message": decline.message}
    detail = f"card declined: {decline.code}"
    failed = _charged(
        deps,
        payment,
        model.DECLINE,
        detail,
        answer=answer,
        decline=decline,
        **error,
        **_card_fields(method),
    )
    if failed is None:
        return _current(deps, payment)
    log.info(
        "payment declined",
        extra={"fields": {"transaction_id": failed.id, "error_code": decline.code}},
    )
    return Charged(failed, decline)


def _gateway_failed(deps: Deps, payment: Payment, message: str) -> Charged:
    first = model.step(payment, model.GATEWAY_FAIL).emits is not None
    detail = "gateway error; retry with the same Idempotency-Key"
    error: dict[str, Any] = {
        "error_code": model.GATEWAY_ERROR,
        "error_message": f"the payment provider failed: {message}",
    }
    failed = _charged(
        deps, payment, model.GATEWAY_FAIL, detail if first else f"retry failed: {message}", **error
    )
    if failed is None:
        return _current(deps, payment)
    log.warning("payment gateway error", extra={"fields": {"transaction_id": payment.id}})
    return Charged(failed)


# -- reconciliation ---------------------------------------------------------------------------


def reconcile(deps: Deps, holder: Payment) -> None:
    """Settle an abandoned payment (see ``_abandoned``) before its booking is paid again.

    The provider is asked what became of the intent: if it succeeded after all, the
    payment completes (and keeps the booking); otherwise the intent is cancelled, so that
    a confirm still in flight cannot charge later, and the payment is cancelled, which
    frees the booking.  The provider's own ``payment_intent.canceled`` webhook may win
    that race; either way the payment is cancelled once, with one event.
    """
    assert holder.provider_intent_id is not None
    try:
        intent = deps.provider.retrieve_intent(holder.provider_intent_id)
        if intent.status in OPEN_STATUSES:
            intent = deps.provider.cancel_intent(
                holder.provider_intent_id, idempotency_key=f"{holder.id}-abandon"
            )
    except GatewayError as exc:
        raise gateway_error(exc.message) from None
    except ProviderRefused as exc:
        if exc.intent is None:
            raise gateway_error(exc.message) from None
        intent = exc.intent
    if intent.status == "succeeded":
        completed(deps, holder, None)
    elif intent.status == "canceled":
        record_cancelled(deps, holder, "abandoned after a gateway error; a new payment was started")


def record_cancelled(deps: Deps, payment: Payment, reason: str) -> Payment | None:
    """Record a cancellation the provider has made; None if another path recorded it."""
    return _charged(deps, payment, model.CANCEL, f"cancelled: {reason}", reason=reason)


# -- the asynchronous intent flow --------------------------------------------------------------


def create_intent(deps: Deps, ctx: Context, req: PaymentRequest) -> IntentOpened:
    """Seed 004: a pending payment and the client secret the client confirms with."""
    if ctx.resume_id is not None:
        previous = deps.storage.get_payment(ctx.resume_id, ctx.tenant_id)
        if previous is not None and previous.provider_intent_id is not None:
            try:
                intent = deps.provider.retrieve_intent(previous.provider_intent_id)
            except GatewayError as exc:
                raise gateway_error(exc.message) from None
            return IntentOpened(previous, intent.client_secret)
    payment, intent = _open(deps, ctx, req, model.INTENT_FLOW)
    return IntentOpened(payment, intent.client_secret)
