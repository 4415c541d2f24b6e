"""``/v1`` routes for PaymentMethods, PaymentIntents, Charges and Refunds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from mocks.provider import charges, payment_methods, payments, refunds
from mocks.provider import params as p
from mocks.provider.endpoint import add_list, add_retrieve, api_view, before_api_request
from mocks.provider.runtime import Provider
from mocks.provider.store import Obj, RequestInfo, Store

bp = Blueprint("v1_payments", __name__, url_prefix="/v1")
bp.before_request(before_api_request)

Params = dict[str, Any]
IntentChange = Callable[[Store, str, Params, RequestInfo], Obj]


def add_intent_action(action: str, spec: p.Spec, change: IntentChange) -> None:
    """Serve ``POST /v1/payment_intents/<id>/<action>`` (endpoint ``<action>_payment_intent``)."""

    def action_view(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
        return change(prov.store, pi_id, params, req)

    rule = f"/payment_intents/<pi_id>/{action}"
    bp.add_url_rule(rule, f"{action}_payment_intent", api_view(spec)(action_view), methods=["POST"])


@bp.post("/payment_methods")
@api_view(payment_methods.CREATE)
def create_payment_method(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payment_methods.create(prov.store, params)


@bp.post("/payment_intents")
@api_view(payments.CREATE)
def create_payment_intent(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payments.create(prov.store, params, req)


@bp.get("/payment_intents/<pi_id>")
@api_view(payments.RETRIEVE)
def retrieve_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    # with a publishable key, only for the caller that holds the intent's client_secret
    return payments.retrieve(prov.store, pi_id, params, req)


@bp.post("/payment_intents/<pi_id>")
@api_view(payments.UPDATE)
def update_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    return payments.update(prov.store, pi_id, params)


@bp.post("/refunds")
@api_view(refunds.CREATE)
def create_refund(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return refunds.create(prov.store, params, req)


# the routes every resource has alike
add_list(bp, "payment_methods", payment_methods.LIST, payment_methods.list_)
add_retrieve(bp, "payment_methods", "payment_method")
add_list(bp, "payment_intents", payments.LIST, payments.list_intents)
add_list(bp, "charges", charges.LIST, charges.list_)
add_retrieve(bp, "charges", "charge")
add_list(bp, "refunds", refunds.LIST, refunds.list_)
add_retrieve(bp, "refunds", "refund")

# a PaymentIntent's state changes
add_intent_action("confirm", payments.CONFIRM, payments.confirm)
add_intent_action("capture", payments.CAPTURE, payments.capture)
add_intent_action("cancel", payments.CANCEL, payments.cancel)
