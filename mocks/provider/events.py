"""Events and webhook endpoints: what happened, and who is told about it.

Each endpoint has its own ``whsec_`` secret, shown once on creation as on Stripe (the
control API shows it again for the sandbox's diagnostics).  Endpoints configured through
settings are re-created with their fixed ids and secrets after every reset.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from mocks.provider import params as p
from mocks.provider.errors import StripeError, invalid
from mocks.provider.store import Obj, Store, list_of, new_id, paginate

EVENT_TYPES = (
    "charge.captured",
    "charge.expired",
    "charge.failed",
    "charge.pending",
    "charge.refunded",
    "charge.succeeded",
    "charge.updated",
    "charge.refund.updated",
    "customer.created",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "payment_intent.created",
    "payment_intent.partially_funded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
    "refund.created",
    "refund.failed",
    "refund.updated",
)

EVENTS_LIST: dict[str, p.Field] = {
    **p.LIST_SPEC,
    "type": p.Str(max_len=200),
    "types": p.List(item=p.Str(max_len=200)),
    "delivery_success": p.Bool(),
}
ENABLED_EVENTS = p.List(item=p.Str(choices=("*", *EVENT_TYPES)))
ENDPOINT_CREATE: dict[str, p.Field] = {
    "url": p.Str(required=True, max_len=2048, blank=False),
    "enabled_events": p.List(required=True, item=ENABLED_EVENTS.item),
    "description": p.Str(max_len=5000),
    "metadata": p.Metadata(),
    "api_version": p.Str(),
    "connect": p.Bool(),
    "expand": p.EXPAND,
}
ENDPOINT_UPDATE: dict[str, p.Field] = {
    "url": p.Str(max_len=2048, blank=False),
    "enabled_events": ENABLED_EVENTS,
    "description": p.Str(max_len=5000),
    "metadata": p.Metadata(),
    "disabled": p.Bool(),
    "expand": p.EXPAND,
}


def _matches(event_type: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


def list_events(store: Store, params: dict[str, Any]) -> Obj:
    patterns = params.get("types") or ([params["type"]] if "type" in params else [])
    items = [
        e
        for e in reversed(store.tables["event"].values())
        if not patterns or any(_matches(e["type"], pat) for pat in patterns)
    ]
    return paginate(items, params, "/v1/events", "event")


def _check_url(url: str, param: str = "url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"Invalid URL: {url!r} must be an absolute http(s) URL.", param)
    return url


def create_endpoint(
    store: Store,
    params: dict[str, Any],
    *,
    endpoint_id: str | None = None,
    secret: str | None = None,
) -> Obj:
    """Register a webhook endpoint; the response is the only API object with the secret."""
    url = _check_url(params["url"])
    if not params["enabled_events"]:
        raise invalid("enabled_events must name at least one event type or '*'.", "enabled_events")
    endpoint: Obj = {
        "id": endpoint_id or new_id("we"),
        "object": "webhook_endpoint",
        "api_version": params.get("api_version"),
        "application": None,
        "created": store.clock.timestamp(),
        "description": params.get("description"),
        "enabled_events": params["enabled_events"],
        "livemode": False,
        "metadata": params.get("metadata", {}),
        "status": "enabled",
        "url": url,
    }
    with store.lock:
        store.add("webhook_endpoint", endpoint)
        store.secrets[endpoint["id"]] = secret or "whsec_" + secrets.token_hex(24)
    return {**endpoint, "secret": store.secrets[endpoint["id"]]}


def update_endpoint(store: Store, endpoint_id: str, params: dict[str, Any]) -> Obj:
    with store.lock:
        endpoint = store.get("webhook_endpoint", endpoint_id, "webhook_endpoint")
        if "url" in params:
            endpoint["url"] = _check_url(params["url"])
        if "enabled_events" in params:
            if not params["enabled_events"]:
                raise invalid("enabled_events cannot be empty.", "enabled_events")
            endpoint["enabled_events"] = params["enabled_events"]
        if "disabled" in params:
            endpoint["status"] = "disabled" if params["disabled"] else "enabled"
        for key in ("description", "metadata"):
            if key in params:
                endpoint[key] = params[key]
        return endpoint


def delete_endpoint(store: Store, endpoint_id: str) -> Obj:
    with store.lock:
        store.get("webhook_endpoint", endpoint_id, "webhook_endpoint")
        del store.tables["webhook_endpoint"][endpoint_id]
        store.secrets.pop(endpoint_id, None)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def list_endpoints(store: Store, params: dict[str, Any]) -> Obj:
    return list_of(store, "webhook_endpoint", params)


def configure_endpoints(
    store: Store,
    urls: tuple[str, ...],
    secrets_: tuple[str, ...],
    enabled_events: tuple[str, ...] = ("*",),
) -> None:
    """Register the endpoints named in settings, with ids ``we_configured_<n>``."""
    for index, url in enumerate(urls):
        secret = secrets_[index] if len(secrets_) > 1 else (secrets_[0] if secrets_ else None)
        try:
            create_endpoint(
                store,
                {
                    "url": url,
                    "enabled_events": list(enabled_events),
                    "description": "from PROVIDER_WEBHOOK_URL",
                },
                endpoint_id=f"we_configured_{index}",
                secret=secret,
            )
        except StripeError as exc:
            raise ValueError(f"PROVIDER_WEBHOOK_URL entry {url!r}: {exc.message}") from None
