"""Charges: the record of each attempt to take money for a PaymentIntent.

Created by confirmation (``payments.confirm``), captured, refunded (``refunds``); the
API only reads them.
"""

from __future__ import annotations

from typing import Any

from mocks.provider import params as p
from mocks.provider.cards import Decline
from mocks.provider.store import Obj, Store, list_of, new_id, snapshot

LIST: dict[str, p.Field] = {**p.LIST_SPEC, "payment_intent": p.Str(), "customer": p.Str()}


def build(store: Store, pi: Obj, pm: Obj, decline: Decline | None) -> Obj:
    """Record the charge a confirmation makes: paid, or failed with the decline."""
    card = pm["card"]
    ok = decline is None
    captured = ok and pi["capture_method"] != "manual"
    outcome = {
        "network_status": "approved_by_network" if ok else "declined_by_network",
        "reason": None if ok else decline and decline.decline_code,
        "risk_level": "normal",
        "seller_message": "Payment complete."
        if ok
        else "The bank did not return any further details with this decline.",
        "type": "authorized" if ok else "issuer_declined",
    }
    charge: Obj = {
        "id": new_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if captured else 0,
        "amount_refunded": 0,
        "balance_transaction": None,
        "billing_details": snapshot(pm["billing_details"]),
        "captured": captured,
        "created": store.clock.timestamp(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_code": None if ok else decline and decline.code,
        "failure_message": None if ok else decline and decline.message,
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "outcome": outcome,
        "paid": ok,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                key: card[key]
                for key in (
                    "brand",
                    "checks",
                    "country",
                    "exp_month",
                    "exp_year",
                    "fingerprint",
                    "funding",
                    "last4",
                )
            }
            | {"network": card["brand"]},
            "type": "card",
        },
        "receipt_email": pi["receipt_email"],
        "refunded": False,
        "status": "succeeded" if ok else "failed",
    }
    return store.add("charge", charge)


def list_(store: Store, params: dict[str, Any]) -> Obj:
    return list_of(store, "charge", params, "payment_intent", "customer")
