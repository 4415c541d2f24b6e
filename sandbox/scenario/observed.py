"""What the mocks and the bus saw of a flow besides its own calls, as timeline entries.

A flow's own HTTP calls and the events its tap saw are on its timeline as they happen.
After the scenario this module adds what only the mocks and the topology can tell:

- provider calls (payment -> provider), from the provider's record of its API calls;
- webhook deliveries (provider -> payment), one per attempt, with the signature verdict
  read from the payment service's answer (a refused signature is a 400);
- merchant callbacks (notifier -> merchant), with the merchant's own signature check;
- consumer deliveries (broker -> consumer), one per work queue the topology binds a
  published event to;
- emails (notifier -> smtp), from the SMTP mock's inbox.

A flow's provider objects are found through its payments: the intents and refunds the
payment service creates carry the payment's ``transaction_id`` in their metadata.

The mocks, the tap and the services stamp times with different clocks (the provider's
can even be moved by a scenario), so each entry here names its cause and the timeline
(``timeline.causal_order``) puts it after that cause: a delivery after its publish, an
email or callback after the delivery that caused it, a webhook after the provider call
that made its object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sandbox.scenario.timeline import CONSUMER_LANES, Entry
from sandbox.topology import Topology

# How many of the provider's latest calls and deliveries are searched for a flow's: read
# as the flow ends, its own are among them unless a load ran alongside it.
RECENT = 1000
SIGNATURE_REFUSED = 400  # the payment service refuses a bad or stale signature with a 400


def _stamp(value: object, default: float) -> float:
    """Unix seconds from an ISO 8601 time, or ``default``."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return default
    return default


# -- consumer deliveries ----------------------------------------------------------------


def consumer_deliveries(entries: Iterable[Entry], topology: Topology) -> list[Entry]:
    """One broker -> consumer arrow per work queue each published event is routed to."""
    found = []
    for entry in entries:
        if entry.kind != "event" or not entry.detail.get("message_id"):
            continue
        message_id = str(entry.detail["message_id"])
        routing_key = entry.label.split(" ", 1)[0]
        for queue in topology.queues_for(routing_key):
            lane = CONSUMER_LANES.get(queue, "broker")
            found.append(
                Entry(
                    entry.at,
                    "delivery",
                    "broker",
                    lane,
                    f"{routing_key} delivered from {queue}",
                    entry.correlation_id,
                    {"key": f"{message_id}>{lane}", "cause": message_id, "queue": queue},
                )
            )
    return found


# -- emails and merchant callbacks --------------------------------------------------------


def _header(mail: dict[str, Any], name: str) -> str | None:
    for key, values in (mail.get("headers") or {}).items():
        if key.lower() == name.lower() and values:
            return str(values[0])
    return None


def email_entry(mail: dict[str, Any], correlation_id: str, default_at: float) -> Entry:
    """An email the SMTP mock received, after the notifier's delivery of its event."""
    event_id = _header(mail, "X-Event-Id")
    return Entry(
        _stamp(mail.get("received_at"), default_at),
        "email",
        "notifier",
        "smtp",
        f"email to {', '.join(mail.get('to') or [])}: {mail.get('subject')}",
        correlation_id,
        {"id": mail.get("id"), "cause": f"{event_id}>notifier" if event_id else None},
    )


def callback_entries(callbacks: Iterable[dict[str, Any]], default_at: float) -> list[Entry]:
    """The merchant's received callbacks, with its answer and signature check."""
    found = []
    for record in callbacks:
        valid = bool(record.get("signature_valid"))
        label = (
            f"callback {record.get('method')} {record.get('path')} -> {record.get('status')} "
            f"{record.get('outcome')}; signature {'valid' if valid else 'INVALID'}"
        )
        event_id = record.get("event_id")
        found.append(
            Entry(
                _stamp(record.get("received_at"), default_at),
                "callback",
                "notifier",
                "merchant",
                label,
                record.get("correlation_id"),
                {
                    "id": record.get("id"),
                    "cause": f"{event_id}>notifier" if event_id else None,
                    "reason": record.get("reason"),
                },
                ok=valid,
            )
        )
    return found


# -- the provider -----------------------------------------------------------------------

_OBJECT_ID = re.compile(r"^(pi|ch|re|pm|cus|seti|evt)_[A-Za-z0-9]+$")


def flow_transactions(entries: Iterable[Entry]) -> set[str]:
    """The payment ids the flow's own calls were answered with."""
    found = set()
    for entry in entries:
        response = entry.detail.get("response") if entry.kind == "http" else None
        if isinstance(response, dict) and isinstance(response.get("transaction_id"), str):
            found.add(response["transaction_id"])
    return found


def _path_ids(path: str) -> set[str]:
    return {part for part in path.split("/") if _OBJECT_ID.match(part)}


def flow_objects(calls: list[dict[str, Any]], transactions: set[str]) -> set[str]:
    """The provider objects made for the flow's payments (by their metadata)."""
    return {
        str(c["object_id"])
        for c in calls
        if c.get("object_id") and (c.get("metadata") or {}).get("transaction_id") in transactions
    }


def provider_call_entries(
    calls: list[dict[str, Any]], objects: set[str], correlation_id: str
) -> list[Entry]:
    """The payment service's calls to the provider about the flow's objects."""
    found = []
    made: set[str] = set()
    for call in calls:
        ids = _path_ids(str(call.get("path", ""))) | {str(call.get("object_id"))}
        if not ids & objects:
            continue
        status = int(call.get("status") or 0)
        object_id = call.get("object_id")
        detail: dict[str, Any] = {"object_id": object_id, "status": status}
        if object_id in objects and object_id not in made:
            made.add(str(object_id))
            detail["key"] = f"provider:{object_id}"
        found.append(
            Entry(
                float(call["at"]),
                "provider",
                "payment",
                "provider",
                f"{call.get('method')} {call.get('path')} -> {status} "
                f"({float(call.get('duration_ms') or 0):.0f} ms)",
                correlation_id,
                detail,
                ok=status < 500,
            )
        )
    return found


def verdict(status: int | None, error: str | None) -> str:
    """What the payment service's answer says of a webhook's signature."""
    if status is None:
        return f"not delivered: {error}"
    if status == SIGNATURE_REFUSED:
        return "signature refused (400)"
    if status < 300 or status == 409:  # 409: verified, its payment not committed yet
        return f"signature verified ({status})"
    return f"answered {status}"


def webhook_entries(
    deliveries: list[dict[str, Any]],
    objects: set[str],
    transactions: set[str],
    correlation_id: str,
    clock_offset_s: float = 0.0,
) -> list[Entry]:
    """Each attempt to deliver a webhook about the flow's objects, in real time."""
    found = []
    for delivery in deliveries:
        mine = delivery.get("object_id") in objects or (
            (delivery.get("metadata") or {}).get("transaction_id") in transactions
        )
        if not mine:
            continue
        copy = f" (copy {delivery['copy']})" if delivery.get("copy") else ""
        for number, attempt in enumerate(delivery.get("attempts") or [], start=1):
            said = verdict(attempt.get("status"), attempt.get("error"))
            found.append(
                Entry(
                    float(attempt["at"]) - clock_offset_s,
                    "webhook",
                    "provider",
                    "payment",
                    f"webhook {delivery.get('event_type')}{copy} attempt {number}: {said}",
                    correlation_id,
                    {
                        "event_id": delivery.get("event_id"),
                        "delivery": delivery.get("id"),
                        "cause": f"provider:{delivery.get('object_id')}",
                    },
                    ok=attempt.get("status") != SIGNATURE_REFUSED,
                )
            )
    return found
