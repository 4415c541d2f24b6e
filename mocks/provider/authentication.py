"""3D Secure: which confirmations ask the customer to authenticate, and what that looks like.

Confirming a PaymentIntent with a card that asks for authentication (``cards.ALWAYS``,
...) charges nothing yet: the intent waits in ``requires_action`` with Stripe's
``next_action`` (``redirect_to_url`` when the confirmation gave a ``return_url``,
``use_stripe_sdk`` otherwise) and ``payment_intent.requires_action`` is emitted.  The
customer's answer comes through the control API, as the two buttons of Stripe's test-mode
authentication page do (``payments.authenticate``): completing it charges the card, which
may still decline; failing it leaves the intent ``requires_payment_method`` with
``payment_intent_authentication_failure``.

A payment with no customer present (``off_session``), or one confirmed with
``error_on_requires_action``, cannot ask anyone: it is declined with
``authentication_required``, as on Stripe.
"""

from __future__ import annotations

from typing import Any

from mocks.provider.cards import ALWAYS, ON_SESSION, UNLESS_SET_UP, Decline
from mocks.provider.errors import StripeError
from mocks.provider.store import Obj, Store, new_id, snapshot

REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent "
    "again."
)


def off_session(params: dict[str, Any]) -> bool:
    """Whether a confirmation says the customer is not there (``true``, ``one_off``, ...)."""
    return params.get("off_session", "false") != "false"


def required(store: Store, pm_id: str, params: dict[str, Any]) -> bool:
    """Whether confirming with this PaymentMethod asks the customer to authenticate."""
    when = store.authentication.get(pm_id)
    if off_session(params):
        return when in (ALWAYS, UNLESS_SET_UP)
    return when is not None


def next_action(pi: Obj, params: dict[str, Any], host_url: str) -> Obj:
    """What the customer must do; the URL is the provider's own authentication call."""
    url = f"{host_url.rstrip('/')}/_control/payment_intents/{pi['id']}/authenticate"
    if params.get("return_url"):
        return {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": url, "return_url": params["return_url"]},
        }
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "stripe_js": url,
            "source": new_id("src"),
        },
    }


def set_up(store: Store, pi: Obj, pm_id: str) -> None:
    """An authenticated payment that saves the card for later (``setup_future_usage``)
    sets it up: its off-session payments need no authentication any more."""
    saving = pi.get("setup_future_usage") == "off_session"
    if saving and store.authentication.get(pm_id) == UNLESS_SET_UP:
        store.authentication[pm_id] = ON_SESSION


def failure(pm: Obj) -> Obj:
    """The ``last_payment_error`` of a failed authentication."""
    error = StripeError(400, FAILED, code="payment_intent_authentication_failure")
    return {**error.body()["error"], "payment_method": snapshot(pm)}
