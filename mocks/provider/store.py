"""The provider's whole state, in memory, behind one lock.

Objects are kept as the JSON dicts Stripe returns, one table per object type, in
insertion order (lists return newest first).  Card numbers never reach this module:
only the checked card's decline outcome is kept, beside its PaymentMethod.
Every event goes through :meth:`Store.emit`, which hands it to the webhook dispatcher
while the lock is held, so deliveries are scheduled in the order events happened.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mocks.provider.cards import Decline
from mocks.provider.clock import Clock
from mocks.provider.errors import invalid, no_such

Obj = dict[str, Any]
EventSink = Callable[[Obj, list[Obj]], None]

PREFIXES = {
    "payment_method": "pm",
    "payment_intent": "pi",
    "charge": "ch",
    "refund": "re",
    "event": "evt",
    "webhook_endpoint": "we",
    "customer": "cus",
}
KIND_BY_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    """Return ``prefix_`` and ``length`` random base62 characters (one urandom call)."""
    number = int.from_bytes(secrets.token_bytes(length), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(chars)


def snapshot(value: Any) -> Any:
    """Deep-copy JSON data (dicts, lists, scalars); much faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snapshot(v) for v in value]
    return value


@dataclass(frozen=True)
class RequestInfo:
    """The API request that caused a change, recorded on the events it emits."""

    id: str
    idempotency_key: str | None = None
    # made with a publishable key: PaymentIntents need their client_secret
    publishable: bool = False
    # the provider's own address as the caller reached it (for next_action URLs)
    host_url: str = ""


class Store:
    """All objects of one provider instance."""

    def __init__(self, clock: Clock, api_version: str, on_event: EventSink) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.api_version = api_version
        self._on_event = on_event
        self.tables: dict[str, dict[str, Obj]] = {kind: {} for kind in PREFIXES}
        self.declines: dict[str, Decline | None] = {}
        # when each card asks for 3D Secure (cards.ALWAYS, ...), by PaymentMethod id
        self.authentication: dict[str, str | None] = {}
        self.secrets: dict[str, str] = {}

    def clear(self) -> None:
        with self.lock:
            for table in self.tables.values():
                table.clear()
            self.declines.clear()
            self.authentication.clear()
            self.secrets.clear()

    def add(self, kind: str, obj: Obj) -> Obj:
        with self.lock:
            self.tables[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, param: str = "id") -> Obj:
        """Return the object or raise Stripe's 404 naming ``param``."""
        found = self.tables[kind].get(object_id)
        if found is None:
            raise no_such(kind, object_id, param)
        return found

    def counts(self) -> dict[str, int]:
        return {kind: len(table) for kind, table in self.tables.items()}

    def endpoints_for(self, event_type: str) -> list[Obj]:
        """Return the enabled webhook endpoints subscribed to ``event_type``."""
        out = []
        for endpoint in self.tables["webhook_endpoint"].values():
            events = endpoint["enabled_events"]
            if endpoint["status"] == "enabled" and ("*" in events or event_type in events):
                out.append(endpoint)
        return out

    def emit(
        self,
        event_type: str,
        obj: Obj,
        request: RequestInfo | None,
        previous: Obj | None = None,
    ) -> Obj:
        """Record an event with a snapshot of ``obj`` and schedule its webhooks."""
        with self.lock:
            endpoints = self.endpoints_for(event_type)
            data: Obj = {"object": snapshot(obj)}
            if previous:
                data["previous_attributes"] = previous
            event: Obj = {
                "id": new_id("evt"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.clock.timestamp(),
                "data": data,
                "livemode": False,
                "pending_webhooks": len(endpoints),
                "request": {
                    "id": request.id if request else None,
                    "idempotency_key": request.idempotency_key if request else None,
                },
                "type": event_type,
            }
            self.add("event", event)
            self._on_event(event, endpoints)
            return event

    def expand(self, obj: Obj, paths: Iterable[str]) -> Obj:
        """Return a copy of ``obj`` with the id fields named in ``paths`` replaced by objects."""
        out = snapshot(obj)
        for path in paths:
            _expand_path(self, out, path.split("."), path)
        return out


def _expand_path(store: Store, node: Any, parts: list[str], path: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        for item in node:
            _expand_path(store, item, parts, path)
        return
    if not isinstance(node, dict) or head not in node:
        raise invalid(f"This property cannot be expanded ({path}).", "expand")
    value = node[head]
    if isinstance(value, str):
        kind = KIND_BY_PREFIX.get(value.split("_", 1)[0])
        target = store.tables[kind].get(value) if kind else None
        if target is None:
            raise invalid(f"This property cannot be expanded ({path}).", "expand")
        value = node[head] = snapshot(target)
    if rest and value is not None:
        _expand_path(store, value, rest, path)


def list_of(store: Store, kind: str, params: dict[str, Any], *filters: str) -> dict[str, Any]:
    """A Stripe list of ``kind`` (at ``/v1/<kind>s``), newest first: the objects whose
    ``filters`` fields equal the parameters of the same names, where those are given."""
    items = [
        o
        for o in reversed(store.tables[kind].values())
        if all(o[name] == params.get(name, o[name]) for name in filters)
    ]
    return paginate(items, params, f"/v1/{kind}s", kind)


def paginate(items: list[Obj], params: dict[str, Any], url: str, kind: str) -> dict[str, Any]:
    """Return a Stripe list object of ``items`` (newest first) per limit and cursors."""
    created = params.get("created")
    if created:
        items = [o for o in items if _in_range(o["created"], created)]
    limit = params.get("limit", 10)
    ids = [o["id"] for o in items]
    if "starting_after" in params:
        cursor = params["starting_after"]
        if cursor not in ids:
            raise no_such(kind, cursor, "starting_after")
        rest = items[ids.index(cursor) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif "ending_before" in params:
        cursor = params["ending_before"]
        if cursor not in ids:
            raise no_such(kind, cursor, "ending_before")
        before = items[: ids.index(cursor)]
        page, has_more = before[-limit:], len(before) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _in_range(value: int, bounds: dict[str, int]) -> bool:
    checks = {
        "eq": value == bounds.get("eq", value),
        "gt": value > bounds.get("gt", value - 1),
        "gte": value >= bounds.get("gte", value),
        "lt": value < bounds.get("lt", value + 1),
        "lte": value <= bounds.get("lte", value),
    }
    return all(checks.values())
