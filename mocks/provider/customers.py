"""Customers, minimally: create, retrieve, list, and the PaymentMethods attached to them.

A PaymentMethod attached to a Customer pays only for that Customer's PaymentIntents,
which is what off-session payments (``off_session=true``) are made with.
"""

from __future__ import annotations

import secrets
from typing import Any

from mocks.provider import params as p
from mocks.provider import payment_methods
from mocks.provider.errors import invalid
from mocks.provider.store import Obj, RequestInfo, Store, list_of, new_id

CREATE: dict[str, p.Field] = {
    "email": p.Str(max_len=512),
    "name": p.Str(max_len=256),
    "description": p.Str(max_len=350),
    "phone": p.Str(max_len=20),
    "metadata": p.Metadata(),
    "payment_method": p.Str(max_len=200),
    "expand": p.EXPAND,
}
LIST: dict[str, p.Field] = {**p.LIST_SPEC, "email": p.Str(max_len=512)}
ATTACH: dict[str, p.Field] = {"customer": p.Str(required=True, max_len=200), "expand": p.EXPAND}
DETACH: dict[str, p.Field] = {"expand": p.EXPAND}


def create(store: Store, params: dict[str, Any], req: RequestInfo) -> Obj:
    """Create a Customer; ``payment_method`` attaches that PaymentMethod to it."""
    with store.lock:
        customer: Obj = {
            "id": new_id("cus", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": store.clock.timestamp(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "email": params.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "name": params.get("name"),
            "phone": params.get("phone"),
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        store.add("customer", customer)
        store.emit("customer.created", customer, req)
        if params.get("payment_method"):
            attach(store, params["payment_method"], {"customer": customer["id"]}, req)
        return customer


def attach(store: Store, pm_id: str, params: dict[str, Any], req: RequestInfo) -> Obj:
    """Attach a PaymentMethod (or a test id such as pm_card_visa) to a Customer."""
    with store.lock:
        customer = store.get("customer", params["customer"], "customer")
        pm = payment_methods.resolve(store, pm_id)
        if pm["customer"] == customer["id"]:
            return pm
        if pm["customer"] is not None:
            raise invalid(
                "The payment method you provided has already been attached to a customer.",
                "payment_method",
                code="payment_method_unexpected_state",
            )
        pm["customer"] = customer["id"]
        store.emit("payment_method.attached", pm, req)
        return pm


def detach(store: Store, pm_id: str, params: dict[str, Any], req: RequestInfo) -> Obj:
    with store.lock:
        pm = store.get("payment_method", pm_id, "payment_method")
        if pm["customer"] is None:
            raise invalid(
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
                "payment_method",
                code="payment_method_unexpected_state",
            )
        pm["customer"] = None
        store.emit("payment_method.detached", pm, req)
        return pm


def list_(store: Store, params: dict[str, Any]) -> Obj:
    return list_of(store, "customer", params, "email")
