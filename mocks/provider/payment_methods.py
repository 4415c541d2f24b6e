"""PaymentMethods: created from raw card details or Stripe's test tokens.

The card is checked (Luhn, expiry against the provider's clock, CVC shape) and its
test-card outcome is remembered beside the object; the number and CVC are dropped here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mocks.provider import params as p
from mocks.provider.cards import CheckedCard, card_for_token, check_card
from mocks.provider.errors import invalid, missing, no_such
from mocks.provider.store import Obj, Store, list_of, new_id

ADDRESS = p.Obj(
    fields={k: p.Str() for k in ("city", "country", "line1", "line2", "postal_code", "state")}
)
BILLING = p.Obj(fields={"name": p.Str(), "email": p.Str(), "phone": p.Str(), "address": ADDRESS})
CARD = p.Obj(
    fields={
        "number": p.Str(max_len=30),
        "exp_month": p.Int(),
        "exp_year": p.Int(),
        "cvc": p.Str(max_len=10),
        "token": p.Str(max_len=100),
    }
)
CREATE: dict[str, p.Field] = {
    "type": p.Str(required=True, choices=("card",)),
    "card": CARD,
    "billing_details": BILLING,
    "metadata": p.Metadata(),
    "allow_redisplay": p.Str(choices=("always", "limited", "unspecified")),
    "expand": p.EXPAND,
}
# ``payment_method_data`` of a PaymentIntent's confirm: a new PaymentMethod made on the way
DATA = p.Obj(fields={k: CREATE[k] for k in ("type", "card", "billing_details", "metadata")})
LIST: dict[str, p.Field] = {**p.LIST_SPEC, "type": p.Str(), "customer": p.Str()}


def create(store: Store, params: dict[str, Any], prefix: str = "") -> Obj:
    """Create a card PaymentMethod from ``card[number]...`` or ``card[token]``; ``prefix``
    names where the parameters came from in errors (``payment_method_data``)."""
    card = params.get("card")
    where = f"{prefix}[card]" if prefix else "card"
    if card is None:
        raise missing(where)
    checked = _check(store, card, where)
    return _store(store, checked, params.get("billing_details", {}), params.get("metadata", {}))


def resolve(store: Store, value: str, param: str = "payment_method") -> Obj:
    """Return the PaymentMethod ``value`` names; test ids like pm_card_visa make a new one."""
    number = card_for_token(value)
    if number is not None:
        now = _today(store)
        checked = check_card(number, 12, now.year + 3, None, now.year, now.month)
        return _store(store, checked, {}, {})
    if value.startswith("pm_card_") or value.startswith("tok_"):
        raise no_such("payment_method", value, param)
    return store.get("payment_method", value, param)


def _today(store: Store) -> dt.date:
    return dt.datetime.fromtimestamp(store.clock.now(), tz=dt.UTC).date()


def _check(store: Store, card: dict[str, Any], where: str) -> CheckedCard:
    now = _today(store)
    if "token" in card:
        number = card_for_token(card["token"])
        if number is None:
            raise no_such("token", card["token"], f"{where}[token]")
        return check_card(number, 12, now.year + 3, None, now.year, now.month)
    for key in ("number", "exp_month", "exp_year"):
        if key not in card:
            raise missing(f"{where}[{key}]")
    if not card["number"].strip():
        name = f"{where}[number]"
        raise invalid(f"{name} cannot be empty.", name, "parameter_invalid_empty")
    return check_card(
        card["number"], card["exp_month"], card["exp_year"], card.get("cvc"), now.year, now.month
    )


def _store(
    store: Store, card: CheckedCard, billing: dict[str, Any], metadata: dict[str, str]
) -> Obj:
    address = billing.get("address", {})
    obj: Obj = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                k: address.get(k)
                for k in ("city", "country", "line1", "line2", "postal_code", "state")
            },
            "email": billing.get("email"),
            "name": billing.get("name"),
            "phone": billing.get("phone"),
        },
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": store.clock.timestamp(),
        "customer": None,
        "livemode": False,
        "metadata": metadata,
        "type": "card",
    }
    with store.lock:
        store.add("payment_method", obj)
        store.declines[obj["id"]] = card.decline
        store.authentication[obj["id"]] = card.authentication
    return obj


def list_(store: Store, params: dict[str, Any]) -> Obj:
    return list_of(store, "payment_method", params, "type", "customer")
