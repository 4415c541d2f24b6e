"""``/v1`` routes for Events and webhook endpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mocks.provider import events
from mocks.provider import params as p
from mocks.provider.endpoint import (
    RETRIEVE,
    add_list,
    add_retrieve,
    api_view,
    before_api_request,
)
from mocks.provider.runtime import Provider
from mocks.provider.store import Obj, RequestInfo

bp = Blueprint("v1_events", __name__, url_prefix="/v1")
bp.before_request(before_api_request)

Params = dict[str, Any]


@bp.post("/webhook_endpoints")
@api_view(events.ENDPOINT_CREATE)
def create_webhook_endpoint(prov: Provider, params: Params, req: RequestInfo) -> Obj:
    return events.create_endpoint(prov.store, params)


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


# the routes every resource has alike
add_list(bp, "events", events.EVENTS_LIST, events.list_events)
add_retrieve(bp, "events", "event", param="id")
add_list(bp, "webhook_endpoints", p.LIST_SPEC, events.list_endpoints)
add_retrieve(bp, "webhook_endpoints", "webhook_endpoint")
