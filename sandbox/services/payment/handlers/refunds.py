"""Refunds (seed 003's ``POST /payment/refund``): full, partial, several partials.

A refund first reserves its amount in one transaction (a ``pending`` refund row, with
the payment row locked), so two concurrent refunds can never add up to more than the
payment.  Then the provider refunds with the refund id as idempotency key, and one
transaction records the outcome: the state machine moves the payment (``REFUND_PART``
to ``partially_refunded``, ``REFUND_REST`` to ``refunded``) and ``payment.refunded`` is
written.  Which payments may be refunded is the machine's answer too: a refund of any
other is refused with ``InvalidTransition``.  A gateway failure releases the
reservation and changes nothing else; retried with the same Idempotency-Key it repeats
the same provider refund.
"""

from __future__ import annotations

import logging

from sandbox.services.payment import model
from sandbox.services.payment.handlers.base import (
    Context,
    Deps,
    Refunded,
    RefundRequest,
    find,
    gateway_error,
    move,
)
from sandbox.services.payment.model import Payment, PaymentError, Refund
from sandbox.services.payment.money import AmountError, to_major, to_minor
from sandbox.services.payment.provider import GatewayError, ProviderRefused
from sandbox.services.payment.storage_requests import link_idempotency

log = logging.getLogger(__name__)


def _not_allowed(message: str, payment: Payment, **details: object) -> PaymentError:
    return PaymentError(
        "REFUND_NOT_ALLOWED",
        message,
        transaction_id=payment.id,
        status=payment.status,
        **details,
    )


def refund_payment(deps: Deps, ctx: Context, req: RefundRequest) -> Refunded:
    payment = find(deps, ctx, req.transaction_id)
    if payment.booking_id != req.booking_id:
        raise _not_allowed(
            f"transaction {payment.id} belongs to another booking", payment, field="booking_id"
        )
    if payment.user_id != req.user_id:
        raise _not_allowed(
            f"transaction {payment.id} belongs to another user", payment, field="user_id"
        )
    try:
        amount = to_minor(req.refund_amount, payment.currency, "refund_amount")
    except AmountError as exc:
        raise PaymentError("INVALID_AMOUNT", str(exc), field="refund_amount") from None
    refund = _resumed(deps, ctx) or _reserve(deps, ctx, payment, amount, req.reason)
    if refund.status == "succeeded":
        return Refunded(deps.storage.get_payment(payment.id) or payment, refund)
    assert payment.provider_intent_id is not None
    try:
        done = deps.provider.refund(
            payment.provider_intent_id,
            amount_minor=refund.amount_minor,
            idempotency_key=refund.id,
            metadata={"refund_id": refund.id, "transaction_id": payment.id},
        )
    except GatewayError as exc:
        _release(deps, refund, f"gateway error: {exc.message}")
        raise gateway_error(exc.message) from None
    except ProviderRefused as exc:
        _release(deps, refund, f"refused: {exc.message}")
        raise _not_allowed(f"the payment provider refused: {exc.message}", payment) from None
    return _record(deps, payment.id, refund, done.id)


def _resumed(deps: Deps, ctx: Context) -> Refund | None:
    """The refund an earlier attempt with this Idempotency-Key reserved, re-reserved."""
    if ctx.resume_id is None:
        return None
    with deps.storage.begin() as tx:
        refund = tx.get_refund(ctx.resume_id)
        if refund is None or refund.status != "failed":
            return refund
        payment = tx.get_payment(refund.payment_id, lock=True)
        assert payment is not None
        if tx.reserved_minor(payment.id) + refund.amount_minor > payment.amount_minor:
            raise _not_allowed("the payment no longer has that much left to refund", payment)
        refund = tx.settle_refund(refund, "pending", None)
        tx.timeline(payment.id, "provider", detail=f"refund {refund.id} retried")
    return refund


def _reserve(deps: Deps, ctx: Context, payment: Payment, amount: int, reason: str) -> Refund:
    with deps.storage.begin() as tx:
        locked = tx.get_payment(payment.id, lock=True)
        assert locked is not None
        model.require(locked, model.refund_event(locked, amount))
        reserved = tx.reserved_minor(locked.id)
        left = locked.amount_minor - reserved
        if amount > left:
            raise _not_allowed(
                f"refund_amount exceeds what is left to refund "
                f"({to_major(left, locked.currency)} {locked.currency})",
                locked,
                remaining_amount=to_major(left, locked.currency),
            )
        refund = Refund(
            id=model.new_refund_id(),
            payment_id=locked.id,
            tenant_id=locked.tenant_id,
            amount_minor=amount,
            reason=reason,
            status="pending",
            created_at=model.now(),
        )
        tx.insert_refund(refund)
        if ctx.idempotency_key:
            link_idempotency(tx, ctx.tenant_id, ctx.idempotency_key, refund.id)
        tx.timeline(locked.id, "provider", detail=f"refund {refund.id} requested")
    return refund


def _release(deps: Deps, refund: Refund, why: str) -> None:
    with deps.storage.begin() as tx:
        tx.settle_refund(refund, "failed", None)
        tx.timeline(refund.payment_id, "provider", detail=f"refund {refund.id} failed: {why}")


def _record(deps: Deps, payment_id: str, refund: Refund, provider_refund_id: str) -> Refunded:
    at = model.now()
    with deps.storage.begin() as tx:
        payment = tx.get_payment(payment_id, lock=True)
        assert payment is not None
        after = move(
            tx,
            payment,
            model.refund_event(payment, refund.amount_minor),
            detail=f"refund {refund.id} of {to_major(refund.amount_minor, payment.currency)}",
            at=at,
            refund=refund,
            refunded_minor=payment.refunded_minor + refund.amount_minor,
        )
        if after is None:  # cannot happen while the reservation holds; never lose money quietly
            raise RuntimeError(f"payment {payment_id} changed during refund {refund.id}")
        done = tx.settle_refund(refund, "succeeded", provider_refund_id)
    log.info(
        "refund processed",
        extra={
            "fields": {"transaction_id": after.id, "refund_id": done.id, "status": after.status}
        },
    )
    return Refunded(after, done)
