"""One flow, one correlation id: the rule of docs/correlation.md across a whole happy path.

The client sends its flow's id with every request; each event carries the id of what
caused it (the HTTP request, or the event it consumed), and each email and merchant
callback carries its event's id. So every event, email and callback of a booked and paid
appointment carries the id of the client's first request, and the services mint none.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from sandbox.messaging.envelope import CORRELATION_HEADER
from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE
from sandbox.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD_CARD = "4111111111111111"
# what a paid booking causes on the bus, each once at least
EVENTS = {
    "appointment.created",
    "payment.created",
    "payment.completed",
    "appointment.confirmed",
    "notification.sent",
}


def _mentions(record_body: Any, ids: set[str]) -> bool:
    text = json.dumps(record_body)
    return any(i in text for i in ids)


def test_every_event_email_and_callback_of_a_flow_carries_its_first_requests_id(
    sandbox_flow: Flow,
) -> None:
    email = f"corr-{uuid.uuid4().hex[:12]}@example.com"
    booking = sandbox_flow.appointments.create(customerEmail=email, price=PRICE)["appointmentId"]
    paid = sandbox_flow.payments.pay_by_card(booking_id=booking, amount=PRICE, card=GOOD_CARD)
    assert paid["status"] == "success", paid
    payment = str(paid["transaction_id"])
    ids = {booking, payment}
    # two emails (confirmed, payment received), and the events behind them
    sandbox_flow.expect("appointment.confirmed", within=10)

    def both_mails() -> list[dict[str, Any]] | None:
        found = sandbox_flow.smtp.messages(to=email)
        return found if len(found) >= 2 else None

    mails = wait_for(
        both_mails,
        timeout=20,
        what=f"two emails to {email}",
        seen=lambda: sandbox_flow.smtp.messages(to=email),
    )

    def ours() -> list[Any]:
        return [
            r
            for r in sandbox_flow.tap.records(lambda r: r.kind == "event")
            if _mentions(r.json(), ids)
        ]

    def every_event() -> list[Any] | None:
        found = ours()
        return found if {r.routing_key for r in found} >= EVENTS else None

    records = wait_for(
        every_event,
        timeout=20,
        what=f"every event of the flow: {sorted(EVENTS)}",
        seen=lambda: sorted({r.routing_key for r in ours()}),
    )
    assert {r.correlation_id for r in records} == {sandbox_flow.correlation_id}, [
        (r.routing_key, r.correlation_id) for r in records
    ]
    assert {m["headers"][CORRELATION_HEADER][0] for m in mails} == {sandbox_flow.correlation_id}
    callbacks = [c for c in sandbox_flow.merchant.callbacks() if _mentions(c.get("body"), ids)]
    assert callbacks, "the merchant was sent no callback for the payment"
    assert {c["correlation_id"] for c in callbacks} == {sandbox_flow.correlation_id}
