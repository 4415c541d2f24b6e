"""PaymentIntents and their charges: create, update, confirm, capture, cancel.

Statuses follow Stripe: ``requires_payment_method`` → (``requires_confirmation``) →
(``requires_action`` while the customer authenticates: ``authentication``) →
``succeeded``, or back to ``requires_payment_method`` with ``last_payment_error`` when
the card declines or authentication fails, or ``canceled``.  Every state change emits
the event Stripe emits.  Each operation holds the store's (reentrant) lock for its whole change.
"""

from __future__ import annotations

import secrets
from typing import Any

from mocks.provider import authentication, charges, payment_methods
from mocks.provider import params as p
from mocks.provider.cards import Decline
from mocks.provider.errors import StripeError, invalid, unexpected_state
from mocks.provider.store import Obj, RequestInfo, Store, list_of, new_id, snapshot

CREATE: dict[str, p.Field] = {
    "amount": p.Int(required=True, minimum=1, maximum=99_999_999),
    "currency": p.Str(required=True, max_len=3),
    "payment_method": p.Str(max_len=200),
    "confirm": p.Bool(),
    "capture_method": p.Str(choices=("automatic", "automatic_async", "manual")),
    "confirmation_method": p.Str(choices=("automatic", "manual")),
    "payment_method_types": p.List(item=p.Str(choices=("card",))),
    "automatic_payment_methods": p.Obj(
        fields={"enabled": p.Bool(required=True), "allow_redirects": p.Str()}
    ),
    "customer": p.Str(),
    "description": p.Str(max_len=1000),
    "metadata": p.Metadata(),
    "receipt_email": p.Str(),
    "return_url": p.Str(),
    "off_session": p.Str(choices=("true", "false", "one_off", "recurring")),
    "setup_future_usage": p.Str(choices=("off_session", "on_session")),
    "statement_descriptor": p.Str(max_len=22),
    "statement_descriptor_suffix": p.Str(max_len=22),
    "payment_method_options": p.Free(),
    "error_on_requires_action": p.Bool(),
    "use_stripe_sdk": p.Bool(),
    "expand": p.EXPAND,
}
UPDATE: dict[str, p.Field] = {
    key: CREATE[key]
    for key in (
        "payment_method",
        "capture_method",
        "customer",
        "description",
        "metadata",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "payment_method_options",
        "payment_method_types",
        "expand",
    )
} | {"amount": p.Int(minimum=1, maximum=99_999_999), "currency": p.Str(max_len=3)}
CONFIRM: dict[str, p.Field] = {
    key: CREATE[key]
    for key in (
        "payment_method",
        "capture_method",
        "receipt_email",
        "return_url",
        "off_session",
        "setup_future_usage",
        "payment_method_options",
        "payment_method_types",
        "error_on_requires_action",
        "use_stripe_sdk",
        "expand",
    )
} | {"client_secret": p.Str(max_len=200), "payment_method_data": payment_methods.DATA}
CANCEL: dict[str, p.Field] = {
    "cancellation_reason": p.Str(
        choices=("duplicate", "fraudulent", "requested_by_customer", "abandoned")
    ),
    "expand": p.EXPAND,
}
CAPTURE: dict[str, p.Field] = {
    "amount_to_capture": p.Int(minimum=1),
    "metadata": p.Metadata(),
    "expand": p.EXPAND,
}
LIST: dict[str, p.Field] = {**p.LIST_SPEC, "customer": p.Str()}
RETRIEVE: dict[str, p.Field] = {"expand": p.EXPAND, "client_secret": p.Str()}

# what a confirmation made by ``create`` (``confirm=true``) takes from its parameters
CONFIRMING = ("return_url", "off_session", "error_on_requires_action", "use_stripe_sdk")
OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = (*OPEN, "requires_capture", "processing")


def _currency(value: str, param: str = "currency") -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise invalid(f"Invalid currency: {value}. Use a three-letter ISO code.", param)
    return value.lower()


def create(store: Store, params: dict[str, Any], req: RequestInfo) -> Obj:
    """Create a PaymentIntent, and confirm it at once when ``confirm=true``."""
    currency = _currency(params["currency"])
    if "off_session" in params and not params.get("confirm"):
        raise invalid("off_session can only be set when confirm=true.", "off_session")
    with store.lock:
        _customer(store, params)
        pm = None
        if params.get("payment_method"):
            pm = payment_methods.resolve(store, params["payment_method"])
        pi_id = new_id("pi")
        pi: Obj = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": params["amount"],
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": params.get("automatic_payment_methods"),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": params.get("capture_method", "automatic"),
            "client_secret": f"{pi_id}_secret_{secrets.token_urlsafe(18)}",
            "confirmation_method": params.get("confirmation_method", "automatic"),
            "created": store.clock.timestamp(),
            "currency": currency,
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": pm["id"] if pm else None,
            "payment_method_options": params.get("payment_method_options", {}),
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "processing": None,
            "receipt_email": params.get("receipt_email"),
            "setup_future_usage": params.get("setup_future_usage"),
            "shipping": None,
            "statement_descriptor": params.get("statement_descriptor"),
            "statement_descriptor_suffix": params.get("statement_descriptor_suffix"),
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        store.add("payment_intent", pi)
        store.emit("payment_intent.created", pi, req)
        if params.get("confirm"):
            return confirm(store, pi_id, {k: params[k] for k in CONFIRMING if k in params}, req)
        return pi


def _customer(store: Store, params: dict[str, Any]) -> None:
    """A ``customer`` parameter must name a Customer."""
    if params.get("customer"):
        store.get("customer", params["customer"], "customer")


def update(store: Store, pi_id: str, params: dict[str, Any]) -> Obj:
    with store.lock:
        pi = store.get("payment_intent", pi_id, "intent")
        if pi["status"] not in OPEN:
            raise unexpected_state(
                f"This PaymentIntent's status is {pi['status']}; it can only be updated while "
                f"its status is one of {', '.join(OPEN)}.",
                payment_intent=snapshot(pi),
            )
        if "currency" in params:
            params["currency"] = _currency(params["currency"])
        _customer(store, params)
        if "payment_method" in params:
            pm = payment_methods.resolve(store, params.pop("payment_method"))
            pi["payment_method"] = pm["id"]
            pi["status"] = "requires_confirmation"
        metadata = params.pop("metadata", None)
        if metadata is not None:
            merged = {**pi["metadata"], **metadata}
            pi["metadata"] = {k: v for k, v in merged.items() if v != ""}
        params.pop("expand", None)
        pi.update(params)
        return pi


def retrieve(store: Store, pi_id: str, params: dict[str, Any], req: RequestInfo) -> Obj:
    pi = store.get("payment_intent", pi_id, "intent")
    check_client_secret(pi, params, req)
    return pi


def check_client_secret(pi: Obj, params: dict[str, Any], req: RequestInfo) -> None:
    """With a publishable key, the caller must prove it holds the client_secret."""
    if req.publishable and params.get("client_secret") != pi["client_secret"]:
        raise StripeError(
            400,
            "The client_secret provided does not match the client_secret associated with "
            "the PaymentIntent.",
            code="payment_intent_invalid_parameter"
            if "client_secret" in params
            else "parameter_missing",
            param="client_secret",
        )


def confirm(store: Store, pi_id: str, params: dict[str, Any], req: RequestInfo) -> Obj:
    """Charge the PaymentIntent's card, or ask for authentication first (3D Secure);
    a decline raises a 402 card_error."""
    with store.lock:
        pi = store.get("payment_intent", pi_id, "intent")
        check_client_secret(pi, params, req)
        if pi["status"] not in OPEN:
            raise unexpected_state(
                f"This PaymentIntent's status is {pi['status']}, but it must be one of "
                f"{', '.join(OPEN)} to be confirmed.",
                payment_intent=snapshot(pi),
            )
        if params.get("payment_method") and "payment_method_data" in params:
            raise invalid(
                "You cannot provide both payment_method and payment_method_data.",
                "payment_method_data",
            )
        if "payment_method_data" in params:
            made = payment_methods.create(
                store, params["payment_method_data"], "payment_method_data"
            )
            pi["payment_method"] = made["id"]
        elif params.get("payment_method"):
            pi["payment_method"] = payment_methods.resolve(store, params["payment_method"])["id"]
        if "capture_method" in params:
            pi["capture_method"] = params["capture_method"]
        if not pi["payment_method"]:
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Pass payment_method when creating or confirming it.",
                code="payment_intent_unexpected_state",
                param="payment_method",
                extra={"payment_intent": snapshot(pi)},
            )
        pm = store.get("payment_method", pi["payment_method"], "payment_method")
        _check_owner(pi, pm)
        if not authentication.required(store, pm["id"], params):
            return _charge(store, pi, pm, req)
        if authentication.off_session(params) or params.get("error_on_requires_action"):
            charge = charges.build(store, pi, pm, authentication.REQUIRED)
            pi["latest_charge"] = charge["id"]
            _decline(store, pi, pm, charge, authentication.REQUIRED, req)
        pi.update(
            status="requires_action",
            next_action=authentication.next_action(pi, params, req.host_url),
            last_payment_error=None,
        )
        store.emit("payment_intent.requires_action", pi, req)
        return pi


def _check_owner(pi: Obj, pm: Obj) -> None:
    """A PaymentMethod attached to a Customer pays only for that Customer's intents."""
    if pm["customer"] is not None and pm["customer"] != pi["customer"]:
        raise invalid(
            f"The PaymentMethod {pm['id']} is attached to Customer {pm['customer']}; an "
            "intent that pays with it must have that customer.",
            "payment_method",
        )


def authenticate(store: Store, pi_id: str, completed: bool) -> Obj:
    """The customer's answer to 3D Secure: charge the card (it may still decline) or
    fail the attempt, as Stripe's test authentication page does."""
    with store.lock:
        pi = store.get("payment_intent", pi_id, "intent")
        if pi["status"] != "requires_action":
            raise unexpected_state(
                f"This PaymentIntent's status is {pi['status']}; only a PaymentIntent in "
                "requires_action awaits authentication.",
                payment_intent=snapshot(pi),
            )
        pm = store.get("payment_method", pi["payment_method"], "payment_method")
        pi["next_action"] = None
        if not completed:
            pi.update(
                status="requires_payment_method",
                payment_method=None,
                last_payment_error=authentication.failure(pm),
            )
            store.emit("payment_intent.payment_failed", pi, None)
            return pi
        authentication.set_up(store, pi, pm["id"])
        try:
            return _charge(store, pi, pm, None)
        except StripeError:
            return pi  # declined after authenticating: the intent records why


def _charge(store: Store, pi: Obj, pm: Obj, req: RequestInfo | None) -> Obj:
    """Charge the card; a decline raises a 402 card_error."""
    decline = store.declines.get(pm["id"])
    charge = charges.build(store, pi, pm, decline)
    pi.update(latest_charge=charge["id"], next_action=None)
    if decline is not None:
        _decline(store, pi, pm, charge, decline, req)
    pi["last_payment_error"] = None
    store.emit("charge.succeeded", charge, req)
    if pi["capture_method"] == "manual":
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
        store.emit("payment_intent.amount_capturable_updated", pi, req)
    else:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        store.emit("payment_intent.succeeded", pi, req)
    return pi


def _decline(
    store: Store, pi: Obj, pm: Obj, charge: Obj, decline: Decline, req: RequestInfo | None
) -> None:
    error = StripeError(
        402,
        decline.message,
        type="card_error",
        code=decline.code,
        param=decline.param,
        decline_code=decline.decline_code,
    )
    last_error = {**error.body()["error"], "charge": charge["id"], "payment_method": pm}
    pi.update(status="requires_payment_method", payment_method=None, last_payment_error=last_error)
    store.emit("charge.failed", charge, req)
    store.emit("payment_intent.payment_failed", pi, req)
    error.extra = {
        "charge": charge["id"],
        "payment_intent": snapshot(pi),
        "payment_method": snapshot(pm),
    }
    raise error


def capture(store: Store, pi_id: str, params: dict[str, Any], req: RequestInfo) -> Obj:
    with store.lock:
        pi = store.get("payment_intent", pi_id, "intent")
        if pi["status"] != "requires_capture":
            raise unexpected_state(
                f"This PaymentIntent could not be captured because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with status requires_capture can be "
                "captured.",
                payment_intent=snapshot(pi),
            )
        amount = params.get("amount_to_capture", pi["amount_capturable"])
        if amount > pi["amount_capturable"]:
            raise StripeError(
                400,
                f"The amount to capture ({amount}) is greater than the amount capturable "
                f"({pi['amount_capturable']}).",
                code="amount_too_large",
                param="amount_to_capture",
            )
        charge = store.get("charge", pi["latest_charge"])
        charge.update(captured=True, amount_captured=amount)
        pi.update(status="succeeded", amount_capturable=0, amount_received=amount)
        if "metadata" in params:
            pi["metadata"] = {**pi["metadata"], **params["metadata"]}
        store.emit("charge.captured", charge, req)
        store.emit("payment_intent.succeeded", pi, req)
        return pi


def cancel(store: Store, pi_id: str, params: dict[str, Any], req: RequestInfo) -> Obj:
    with store.lock:
        pi = store.get("payment_intent", pi_id, "intent")
        if pi["status"] not in CANCELABLE:
            raise unexpected_state(
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
                f"be canceled: {', '.join(CANCELABLE)}.",
                payment_intent=snapshot(pi),
            )
        if pi["status"] == "requires_capture":
            # canceling an authorization releases the held amount
            charge = store.get("charge", pi["latest_charge"])
            charge.update(refunded=True, amount_refunded=charge["amount"])
        pi.update(
            status="canceled",
            canceled_at=store.clock.timestamp(),
            cancellation_reason=params.get("cancellation_reason"),
            amount_capturable=0,
        )
        store.emit("payment_intent.canceled", pi, req)
        return pi


def list_intents(store: Store, params: dict[str, Any]) -> Obj:
    return list_of(store, "payment_intent", params, "customer")
