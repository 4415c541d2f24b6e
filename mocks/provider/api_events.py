"""``/v1`` routes for Events and webhook endpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mocks.provider import events
from mocks.provider import params as p
from mocks.provider.endpoint import api_view, before_api_request
from mocks.provider.runtime import Provider
from mocks.provider.store import Obj, RequestInfo

bp = Blueprint("v1_events", __name__, url_prefix="/v1")
bp.before_request(before_api_request)

RETRIEVE: dict[str, p.Field] = {"expand": p.EXPAND}
Params = dict[str, Any]


@bp.get("/events")
@api_view(events.EVENTS_LIST)
def list_events(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return events.list_events(prov.store, params)


@bp.get("/events/<event_id>")
@api_view(RETRIEVE)
def retrieve_event(prov: Provider, params: Params, req: RequestInfo, event_id: str) -> Obj:
    return prov.store.get("event", event_id, "id")


@bp.post("/webhook_endpoints")
@api_view(events.ENDPOINT_CREATE)
def create_webhook_endpoint(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return events.create_endpoint(prov.store, params)


@bp.get("/webhook_endpoints")
@api_view(p.LIST_SPEC)
def list_webhook_endpoints(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return events.list_endpoints(prov.store, params)


@bp.get("/webhook_endpoints/<endpoint_id>")
@api_view(RETRIEVE)
def retrieve_webhook_endpoint(
    prov: Provider, params: Params, req: RequestInfo, endpoint_id: str
) -> Obj:
    return prov.store.get("webhook_endpoint", endpoint_id, "webhook_endpoint")


@bp.post("/webhook_endpoints/<endpoint_id>")
@api_view(events.ENDPOINT_UPDATE)
def update_webhook_endpoint(
    prov: Provider, params: Params, req: RequestInfo, endpoint_id: str
) -> Obj:
    return events.update_endpoint(prov.store, endpoint_id, params)


@bp.delete("/webhook_endpoints/<endpoint_id>")
@api_view(RETRIEVE)
def delete_webhook_endpoint(
    prov: Provider, params: Params, req: RequestInfo, endpoint_id: str
) -> Obj:
    deleted = events.delete_endpoint(prov.store, endpoint_id)
    prov.dispatcher.cancel_endpoint(endpoint_id)
    return deleted
