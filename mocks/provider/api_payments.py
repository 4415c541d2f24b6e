"""``/v1`` routes for Customers, PaymentMethods, PaymentIntents, Charges and Refunds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from mocks.provider import charges, customers, payment_methods, payments, refunds
from mocks.provider import params as p
from mocks.provider.endpoint import add_list, add_retrieve, api_view, before_api_request
from mocks.provider.errors import unrecognized_url
from mocks.provider.runtime import Provider
from mocks.provider.store import Obj, RequestInfo, Store

bp = Blueprint("v1_payments", __name__, url_prefix="/v1")
bp.before_request(before_api_request)

Params = dict[str, Any]
Change = Callable[[Store, str, Params, RequestInfo], Obj]


def add_action(kind: str, action: str, spec: p.Spec, change: Change) -> None:
    """Serve ``POST /v1/<kind>s/<id>/<action>`` (endpoint ``<action>_<kind>``)."""

    def action_view(prov: Provider, params: Params, req: RequestInfo, object_id: str) -> Obj:
        return change(prov.store, object_id, params, req)

    rule = f"/{kind}s/<object_id>/{action}"
    bp.add_url_rule(rule, f"{action}_{kind}", api_view(spec)(action_view), methods=["POST"])


@bp.post("/payment_methods")
@api_view(payment_methods.CREATE)
def create_payment_method(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payment_methods.create(prov.store, params)


@bp.post("/customers")
@api_view(customers.CREATE)
def create_customer(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return customers.create(prov.store, params, req)


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


def unsupported_search() -> Response:
    # without this route ``search`` would be read as an object id ("No such ...")
    raise unrecognized_url(request.method, request.path)


for resource in ("customers", "payment_intents", "charges"):
    bp.add_url_rule(f"/{resource}/search", f"search_{resource}", unsupported_search)

# the routes every resource has alike
add_list(bp, "customers", customers.LIST, customers.list_)
add_retrieve(bp, "customers", "customer")
add_list(bp, "payment_methods", payment_methods.LIST, payment_methods.list_)
add_retrieve(bp, "payment_methods", "payment_method")
add_list(bp, "payment_intents", payments.LIST, payments.list_intents)
add_list(bp, "charges", charges.LIST, charges.list_)
add_retrieve(bp, "charges", "charge")
add_list(bp, "refunds", refunds.LIST, refunds.list_)
add_retrieve(bp, "refunds", "refund")

# a PaymentIntent's state changes
add_action("payment_intent", "confirm", payments.CONFIRM, payments.confirm)
add_action("payment_intent", "capture", payments.CAPTURE, payments.capture)
add_action("payment_intent", "cancel", payments.CANCEL, payments.cancel)
# a PaymentMethod's owner
add_action("payment_method", "attach", customers.ATTACH, customers.attach)
add_action("payment_method", "detach", customers.DETACH, customers.detach)
