"""Refunds: full or partial, never more than was captured and not yet refunded."""

from __future__ import annotations

from typing import Any

from mocks.provider import params as p
from mocks.provider.errors import StripeError, invalid
from mocks.provider.store import Obj, RequestInfo, Store, list_of, new_id

CREATE: dict[str, p.Field] = {
    "payment_intent": p.Str(max_len=200),
    "charge": p.Str(max_len=200),
    "amount": p.Int(minimum=1, maximum=99_999_999),
    "reason": p.Str(choices=("duplicate", "fraudulent", "requested_by_customer")),
    "metadata": p.Metadata(),
    "instructions_email": p.Str(),
    "expand": p.EXPAND,
}
LIST: dict[str, p.Field] = {**p.LIST_SPEC, "payment_intent": p.Str(), "charge": p.Str()}


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def _charge_to_refund(store: Store, params: dict[str, Any]) -> tuple[Obj, str]:
    """Return the charge the refund is for and the name of the parameter that chose it."""
    if "payment_intent" in params:
        pi = store.get("payment_intent", params["payment_intent"], "payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise StripeError(
                400,
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund "
                f"(its status is {pi['status']}).",
                code="payment_intent_unexpected_state",
                param="payment_intent",
            )
        charge = store.get("charge", pi["latest_charge"], "payment_intent")
        if "charge" in params and params["charge"] != charge["id"]:
            raise invalid(
                f"Charge {params['charge']} does not belong to PaymentIntent {pi['id']}.",
                "charge",
            )
        return charge, "payment_intent"
    if "charge" in params:
        charge = store.get("charge", params["charge"], "charge")
        if not charge["captured"] or charge["status"] != "succeeded":
            raise StripeError(
                400,
                f"Charge {charge['id']} has not been captured, so there is nothing to refund.",
                code="charge_not_refundable",
                param="charge",
            )
        return charge, "charge"
    raise StripeError(
        400,
        "One of the following params should be provided for this request: payment_intent "
        "or charge.",
        code="parameter_missing",
        param="payment_intent",
    )


def create(store: Store, params: dict[str, Any], req: RequestInfo) -> Obj:
    with store.lock:
        charge, by = _charge_to_refund(store, params)
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                param=by,
            )
        amount = params.get("amount", remaining)
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({_money(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        refund: Obj = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": store.clock.timestamp(),
            "currency": charge["currency"],
            "metadata": params.get("metadata", {}),
            "payment_intent": charge["payment_intent"],
            "reason": params.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        store.add("refund", refund)
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        store.emit("refund.created", refund, req)
        store.emit("charge.refunded", charge, req, previous=previous)
        return refund


def list_(store: Store, params: dict[str, Any]) -> Obj:
    return list_of(store, "refund", params, "payment_intent", "charge")
