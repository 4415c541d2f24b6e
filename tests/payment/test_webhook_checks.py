"""A validly signed webhook is not believed as is: real processes, the mock provider.

Each forged event is signed with the real endpoint secret (as a leaked secret or a
confused sender would) and built from the provider's own event for the intent, with one
thing changed.  None of them may move the payment; each is logged; the genuine event the
provider sends afterwards still completes the flow.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable

import pytest
import requests

from sandbox.signing import sign
from sandbox.waiting import wait_for
from tests.payment.support import (
    WEBHOOK_SECRET,
    EventLog,
    PaymentStack,
    Provider,
    json_lines,
)
from tests.payment.test_intents_and_webhooks import confirm, open_intent, provider_events

pytestmark = pytest.mark.integration


def _set(path: str, value: object) -> Callable[[dict], None]:
    def change(obj: dict) -> None:
        *parents, last = path.split(".")
        for name in parents:
            obj = obj[name]
        obj[last] = value

    return change


FORGERIES = {
    "amount 1": (_set("amount", 1), "rejected: amount_mismatch"),
    "wrong currency": (_set("currency", "eur"), "rejected: currency_mismatch"),
    "other tenant's metadata": (
        _set("metadata.tenant_id", "tenant-intruder"),
        "rejected: tenant_mismatch",
    ),
    "a status the provider does not have": (
        _set("status", "succeeded"),
        "rejected: status_mismatch",
    ),
}


def _forged(created: dict, change: Callable[[dict], None]) -> bytes:
    """The provider's payment_intent.created event, re-typed as a success, with ``change``."""
    event = copy.deepcopy(created)
    event["id"] = f"evt_forged_{uuid.uuid4().hex[:16]}"
    event["type"] = "payment_intent.succeeded"
    event["data"]["object"]["status"] = "succeeded"
    change(event["data"]["object"])
    return json.dumps(event).encode()


def _post(stack: PaymentStack, body: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(WEBHOOK_SECRET, body)}
    return requests.post(f"{stack.url}/payment/webhook", data=body, headers=headers, timeout=10)


def test_signed_webhooks_that_disagree_change_nothing_and_the_genuine_one_completes(
    stack: PaymentStack, clean_provider: Provider, events: EventLog
):
    intent = open_intent(stack, amount=99.0)
    payment_id, pi = intent["transaction_id"], intent["payment_intent_id"]
    [created] = wait_for(
        lambda: [e for e in provider_events(clean_provider, pi) if e["type"].endswith("created")],
        timeout=10,
        what=f"the provider's payment_intent.created of {pi}",
    )
    # the genuine object carries the metadata the service gave the intent
    assert created["data"]["object"]["metadata"]["transaction_id"] == payment_id

    answers = {}
    for name, (change, outcome) in FORGERIES.items():
        body = _forged(created, change)
        answer = _post(stack, body)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["outcome"] == outcome, name
        answers[name] = json.loads(body)["id"]

    assert stack.status(payment_id)["status"] == "pending"
    assert clean_provider.stripe().v1.payment_intents.retrieve(pi).status == (
        "requires_payment_method"
    )
    events.collect(stack.broker_url)
    assert [m.routing_key for m in events.for_payment(payment_id)] == ["payment.created"]
    timeline = stack.get(f"/payment/{payment_id}/timeline").json()["entries"]
    assert not [e for e in timeline if "evt_forged_" in (e["detail"] or "")]
    assert stack.web is not None
    warnings = [
        line
        for line in json_lines(stack.web.log_file)
        if line["level"] == "warning" and line.get("event_id") in answers.values()
    ]
    assert sorted(line["event_id"] for line in warnings) == sorted(answers.values())
    assert all(line.get("transaction_id") == payment_id for line in warnings)
    assert not [line for line in warnings if WEBHOOK_SECRET in json.dumps(line)]

    confirm(clean_provider, intent, "pm_card_visa")

    stack.wait_status(payment_id, "completed")
    events.wait_for_types(stack.broker_url, payment_id, ["payment.created", "payment.completed"])
