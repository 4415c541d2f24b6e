"""Payment handlers: plain functions, a request in, a state change and its events out.

Card payment (``process_payment``), in order:

1. the booking must be the tenant's (``bookings.py``: BOOKING_NOT_FOUND otherwise) and
   free (DUPLICATE_TRANSACTION otherwise; a holder left failed by a gateway error is
   reconciled with the provider first);
2. a provider PaymentIntent is created (idempotency key ``<txn>-intent``);
3. one transaction inserts the payment ``pending`` with its intent id and writes
   ``payment.created``;
4. the card becomes a provider PaymentMethod (``<txn>-card``) and confirms the intent
   (``<txn>-confirm``);
5. one transaction moves the payment to ``completed`` or ``failed`` and writes
   ``payment.completed`` or ``payment.failed``.

A gateway failure in step 2 records nothing (no charge can follow an intent nobody
confirms); in step 4 it leaves the payment ``failed`` and retryable: a retry with the
same Idempotency-Key repeats step 4 with the same provider keys, so the provider
charges at most once.  The intent flow (``create_intent``) stops after step 3; the
provider's webhooks finish it (``webhooks.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sandbox.services.common.web import ApiError
from sandbox.services.payment import events, model, replies
from sandbox.services.payment.bookings import Bookings, ensure_payable
from sandbox.services.payment.model import CardInput, Customer, Payment
from sandbox.services.payment.provider import (
    OPEN_STATUSES,
    CardDeclined,
    CardMethod,
    Decline,
    GatewayError,
    Intent,
    PaymentProvider,
    ProviderRefused,
)
from sandbox.services.payment.replies import Reply
from sandbox.services.payment.settings import PaymentSettings
from sandbox.services.payment.storage import DuplicateBooking, Storage
from sandbox.services.payment.storage_requests import RequestStore, link_idempotency

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deps:
    """What handlers need, wired by ``api.create_app`` (real) or tests (fakes)."""

    storage: Storage
    requests: RequestStore
    provider: PaymentProvider
    settings: PaymentSettings
    # None: no appointment service to ask; every booking is external
    bookings: Bookings | None = None


@dataclass(frozen=True)
class Context:
    """Who is asking: tenant, flow id, and the Idempotency-Key's state."""

    tenant_id: str
    correlation_id: str
    idempotency_key: str | None = None
    resume_id: str | None = None


@dataclass(frozen=True)
class PaymentRequest:
    user_id: str
    booking_id: str
    amount_minor: int
    currency: str
    payment_method: str
    card: CardInput | None = None
    customer: Customer = field(default_factory=Customer)


def gateway_error(message: str) -> ApiError:
    return ApiError(
        model.GATEWAY_ERROR,
        f"the payment provider failed: {message}",
        502,
        details={"retry_possible": True},
    )


# -- opening a payment --------------------------------------------------------------------


def _metadata(payment: Payment) -> dict[str, str]:
    return {
        "transaction_id": payment.id,
        "tenant_id": payment.tenant_id,
        "booking_id": payment.booking_id,
    }


def _duplicate(holder: Payment) -> ApiError:
    return ApiError(
        "DUPLICATE_TRANSACTION",
        f"booking {holder.booking_id} already has payment {holder.id} ({holder.status})",
        409,
        details={
            "transaction_id": holder.id,
            "status": holder.status,
            "booking_id": holder.booking_id,
        },
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
    payment = Payment(
        id=model.new_transaction_id(),
        tenant_id=ctx.tenant_id,
        booking_id=req.booking_id,
        user_id=req.user_id,
        amount_minor=req.amount_minor,
        currency=req.currency,
        payment_method=req.payment_method,
        flow=flow,
        status=model.PENDING,
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
        raise ApiError("PAYMENT_REJECTED", f"the payment provider refused: {exc.message}") from None
    payment = payment.with_changes(provider_intent_id=intent.id)
    try:
        with deps.storage.begin() as tx:
            tx.insert_payment(payment)
            if ctx.idempotency_key:
                link_idempotency(tx, ctx.tenant_id, ctx.idempotency_key, payment.id)
            tx.emit(payment.id, [events.state_event("payment.created", payment, at)])
    except DuplicateBooking:
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


def process_payment(deps: Deps, ctx: Context, req: PaymentRequest) -> Reply:
    if req.payment_method == "stripe":
        raise ApiError(
            "PAYMENT_METHOD_DISABLED",
            "payment method stripe is disabled (see GET /payment/methods)",
            field="payment_method",
        )
    if req.payment_method not in model.CARD_METHODS or req.card is None:
        raise ApiError(
            "PAYMENT_METHOD_NOT_SUPPORTED",
            f"payment method {req.payment_method} cannot be processed by this service's "
            "card provider; use credit_card or debit_card",
            field="payment_method",
        )
    if ctx.resume_id is not None:
        previous = deps.storage.get_payment(ctx.resume_id, ctx.tenant_id)
        if previous is not None:
            if previous.status == model.PENDING or (
                previous.status == model.FAILED and previous.retryable
            ):
                return _charge(deps, previous, req.card)
            return replies.for_payment(previous)
    payment, _intent = _open(deps, ctx, req, model.CARD_FLOW)
    return _charge(deps, payment, req.card)


def _charge(deps: Deps, payment: Payment, card: CardInput) -> Reply:
    """Steps 4 and 5: confirm the intent with the card; record the outcome."""
    assert payment.provider_intent_id is not None
    method: CardMethod | None = None
    try:
        method = deps.provider.create_card_method(card, idempotency_key=f"{payment.id}-card")
        intent = deps.provider.confirm_intent(
            payment.provider_intent_id,
            payment_method_id=method.id,
            idempotency_key=f"{payment.id}-confirm",
        )
    except CardDeclined as exc:
        return declined(deps, payment, exc.decline, method)
    except GatewayError as exc:
        return _gateway_failed(deps, payment, exc.message)
    except ProviderRefused as exc:
        return _refused(deps, payment, method, exc)
    if intent.status != "succeeded":
        why = f"the card needs {intent.status}, which this service does not support"
        return declined(deps, payment, Decline("CARD_DECLINED", why), method)
    return completed(deps, payment, method)


def _refused(
    deps: Deps, payment: Payment, method: CardMethod | None, exc: ProviderRefused
) -> Reply:
    """The provider refused the card or the confirm for a reason that is not a decline."""
    if method is None:  # the card itself was refused
        return declined(deps, payment, Decline("INVALID_CARD", exc.message), None)
    # The intent changed under us: cancelled, or completed on another path.
    if exc.intent is not None and exc.intent.status == "succeeded":
        return completed(deps, payment, method)
    current = deps.storage.get_payment(payment.id) or payment
    if current.status == model.PENDING and exc.intent is None:
        why = f"the payment provider refused the payment: {exc.message}"
        return declined(deps, payment, Decline("CARD_DECLINED", why), method)
    return replies.for_payment(current)


def _card_fields(method: CardMethod | None) -> dict[str, Any]:
    if method is None:
        return {}
    return {"card_brand": method.brand, "card_last4": method.last4}


def completed(deps: Deps, payment: Payment, method: CardMethod | None) -> Reply:
    at = model.now()
    with deps.storage.begin() as tx:
        done = tx.transition(
            payment,
            model.COMPLETED,
            expect=(model.PENDING, model.FAILED),
            detail="charge succeeded",
            at=at,
            processed_at=at,
            retryable=False,
            error_code=None,
            error_message=None,
            **_card_fields(method),
        )
        if done is not None:
            tx.emit(done.id, [events.state_event("payment.completed", done, at)])
    if done is None:
        return replies.for_payment(deps.storage.get_payment(payment.id) or payment)
    log.info("payment completed", extra={"fields": {"transaction_id": done.id}})
    return Reply(200, replies.success(done))


def declined(deps: Deps, payment: Payment, decline: Decline, method: CardMethod | None) -> Reply:
    at = model.now()
    with deps.storage.begin() as tx:
        failed = tx.transition(
            payment,
            model.FAILED,
            expect=(model.PENDING, model.FAILED),
            detail=f"card declined: {decline.code}",
            at=at,
            processed_at=at,
            retryable=False,
            error_code=decline.code,
            error_message=decline.message,
            **_card_fields(method),
        )
        if failed is not None:
            tx.emit(failed.id, [events.state_event("payment.failed", failed, at)])
    if failed is None:
        return replies.for_payment(deps.storage.get_payment(payment.id) or payment)
    log.info(
        "payment declined",
        extra={"fields": {"transaction_id": failed.id, "error_code": decline.code}},
    )
    extra = {"decline_code": decline.decline_code} if decline.decline_code else {}
    return Reply(400, replies.failure(failed, retry_possible=decline.retry_possible, extra=extra))


def _gateway_failed(deps: Deps, payment: Payment, message: str) -> Reply:
    at = model.now()
    text = f"the payment provider failed: {message}"
    with deps.storage.begin() as tx:
        if payment.status == model.PENDING:
            failed = tx.transition(
                payment,
                model.FAILED,
                expect=(model.PENDING,),
                detail="gateway error; retry with the same Idempotency-Key",
                at=at,
                processed_at=at,
                retryable=True,
                error_code=model.GATEWAY_ERROR,
                error_message=text,
            )
            if failed is not None:
                tx.emit(failed.id, [events.state_event("payment.failed", failed, at)])
        else:  # a retry that failed again: already failed and retryable, no new event
            tx.timeline(payment.id, "provider", detail=f"retry failed: {message}", at=at)
            failed = payment
    if failed is None:
        return replies.for_payment(deps.storage.get_payment(payment.id) or payment)
    log.warning("payment gateway error", extra={"fields": {"transaction_id": payment.id}})
    return Reply(502, replies.failure(failed, retry_possible=True))


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
        _cancelled(deps, holder, "abandoned after a gateway error; a new payment was started")


# -- the asynchronous intent flow --------------------------------------------------------------


def create_intent(deps: Deps, ctx: Context, req: PaymentRequest) -> Reply:
    """Seed 004: a pending payment and the client secret the client confirms with."""
    if ctx.resume_id is not None:
        previous = deps.storage.get_payment(ctx.resume_id, ctx.tenant_id)
        if previous is not None and previous.provider_intent_id is not None:
            try:
                intent = deps.provider.retrieve_intent(previous.provider_intent_id)
            except GatewayError as exc:
                raise gateway_error(exc.message) from None
            return Reply(201, replies.intent(previous, intent.client_secret))
    payment, intent = _open(deps, ctx, req, model.INTENT_FLOW)
    return Reply(201, replies.intent(payment, intent.client_secret))


# -- cancel ------------------------------------------------------------------------------------


def _cancellable(payment: Payment) -> bool:
    if payment.status == model.PENDING:
        return True
    return payment.status == model.FAILED and (
        payment.retryable or payment.flow == model.INTENT_FLOW
    )


def cancel_payment(deps: Deps, ctx: Context, payment_id: str, reason: str | None) -> Reply:
    payment = find(deps, ctx, payment_id)
    if not _cancellable(payment):
        hint = " (refund it instead)" if payment.status in model.REFUNDABLE else ""
        raise ApiError(
            "CANCEL_NOT_ALLOWED",
            f"a {payment.status} payment cannot be cancelled{hint}",
            details={"transaction_id": payment.id, "status": payment.status},
        )
    assert payment.provider_intent_id is not None
    why = reason or "cancelled on request"
    with deps.storage.begin() as tx:
        tx.request_cancel(payment.id, why)
    try:
        deps.provider.cancel_intent(
            payment.provider_intent_id, idempotency_key=f"{payment.id}-cancel"
        )
    except GatewayError as exc:
        raise gateway_error(exc.message) from None
    except ProviderRefused as exc:
        if exc.intent is not None and exc.intent.status == "succeeded":
            completed(deps, payment, None)
        if exc.intent is None or exc.intent.status != "canceled":
            raise ApiError(
                "CANCEL_NOT_ALLOWED",
                f"the provider refused to cancel: {exc.message}",
                details={"transaction_id": payment.id},
            ) from None
    current = _cancelled(deps, payment, why) or deps.storage.get_payment(payment.id) or payment
    if current.status != model.CANCELLED:
        raise ApiError(
            "CANCEL_NOT_ALLOWED",
            f"the payment became {current.status} meanwhile",
            details={"transaction_id": payment.id, "status": current.status},
        )
    return Reply(200, replies.cancelled(current, why))


def _cancelled(deps: Deps, payment: Payment, reason: str) -> Payment | None:
    """Record a cancellation the provider has made; None if another path recorded it."""
    at = model.now()
    with deps.storage.begin() as tx:
        done = tx.transition(
            payment,
            model.CANCELLED,
            expect=(model.PENDING, model.FAILED),
            any_failed=payment.flow == model.INTENT_FLOW,
            detail=f"cancelled: {reason}",
            at=at,
            retryable=False,
            processed_at=at,
        )
        if done is not None:
            tx.emit(done.id, [events.cancelled_event(done, reason, at)])
    return done


# -- reads -------------------------------------------------------------------------------------


def find(deps: Deps, ctx: Context, payment_id: str) -> Payment:
    """The tenant's payment, or 404: another tenant's payment does not exist for it."""
    payment = deps.storage.get_payment(payment_id, ctx.tenant_id)
    if payment is None:
        raise ApiError(
            "TRANSACTION_NOT_FOUND",
            f"no transaction {payment_id} for this tenant",
            404,
            field="transaction_id",
        )
    return payment
