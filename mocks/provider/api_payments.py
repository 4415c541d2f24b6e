"""``/v1`` routes for PaymentMethods, PaymentIntents, Charges and Refunds."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mocks.provider import charges, payment_methods, payments, refunds
from mocks.provider import params as p
from mocks.provider.endpoint import api_view, before_api_request
from mocks.provider.runtime import Provider
from mocks.provider.store import Obj, RequestInfo

bp = Blueprint("v1_payments", __name__, url_prefix="/v1")
bp.before_request(before_api_request)

RETRIEVE: dict[str, p.Field] = {"expand": p.EXPAND}
Params = dict[str, Any]


@bp.post("/payment_methods")
@api_view(payment_methods.CREATE)
def create_payment_method(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payment_methods.create(prov.store, params)


@bp.get("/payment_methods")
@api_view(payment_methods.LIST)
def list_payment_methods(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payment_methods.list_(prov.store, params)


@bp.get("/payment_methods/<pm_id>")
@api_view(RETRIEVE)
def retrieve_payment_method(prov: Provider, params: Params, req: RequestInfo, pm_id: str) -> Obj:
    return prov.store.get("payment_method", pm_id, "payment_method")


@bp.post("/payment_intents")
@api_view(payments.CREATE)
def create_payment_intent(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payments.create(prov.store, params, req)


@bp.get("/payment_intents")
@api_view(payments.LIST)
def list_payment_intents(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return payments.list_intents(prov.store, params)


@bp.get("/payment_intents/<pi_id>")
@api_view(payments.RETRIEVE)
def retrieve_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    return payments.retrieve(prov.store, pi_id, params, req)


@bp.post("/payment_intents/<pi_id>")
@api_view(payments.UPDATE)
def update_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    return payments.update(prov.store, pi_id, params)


@bp.post("/payment_intents/<pi_id>/confirm")
@api_view(payments.CONFIRM)
def confirm_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    return payments.confirm(prov.store, pi_id, params, req)


@bp.post("/payment_intents/<pi_id>/capture")
@api_view(payments.CAPTURE)
def capture_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    return payments.capture(prov.store, pi_id, params, req)


@bp.post("/payment_intents/<pi_id>/cancel")
@api_view(payments.CANCEL)
def cancel_payment_intent(prov: Provider, params: Params, req: RequestInfo, pi_id: str) -> Obj:
    return payments.cancel(prov.store, pi_id, params, req)


@bp.get("/charges")
@api_view(charges.LIST)
def list_charges(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return charges.list_(prov.store, params)


@bp.get("/charges/<charge_id>")
@api_view(RETRIEVE)
def retrieve_charge(prov: Provider, params: Params, req: RequestInfo, charge_id: str) -> Obj:
    return prov.store.get("charge", charge_id, "charge")


@bp.post("/refunds")
@api_view(refunds.CREATE)
def create_refund(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return refunds.create(prov.store, params, req)


@bp.get("/refunds")
@api_view(refunds.LIST)
def list_refunds(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return refunds.list_(prov.store, params)


@bp.get("/refunds/<refund_id>")
@api_view(RETRIEVE)
def retrieve_refund(prov: Provider, params: Params, req: RequestInfo, refund_id: str) -> Obj:
    return prov.store.get("refund", refund_id, "refund")
