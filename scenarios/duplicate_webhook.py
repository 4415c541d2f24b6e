"""Duplicate webhook: the provider delivers every webhook twice; the payment completes once
and the booking is confirmed once."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import (
    appointment_becomes,
    book,
    intent_deliveries,
    pay_by_intent,
)
from sandbox.waiting import wait_for


def run(flow: Flow) -> None:
    booking = book(flow)
    flow.provider.webhook_faults(duplicate={"probability": 1, "copies": 1})
    try:
        intent = pay_by_intent(flow, booking)
        flow.expect("appointment.confirmed", within=10)
        appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid")

        def both_copies() -> list:
            rows = [
                d
                for d in intent_deliveries(flow, intent["payment_intent_id"])
                if d["event_type"] == "payment_intent.succeeded" and d["status"] == "delivered"
            ]
            return rows if len(rows) >= 2 else []

        succeeded = wait_for(both_copies, timeout=10, what="both copies of the webhook delivered")
    finally:
        flow.provider.clear_webhook_faults()
    assert sorted(d["copy"] for d in succeeded) == [0, 1], succeeded
    completed = flow.tap.events(event_key="payment.completed", correlation_id=flow.correlation_id)
    assert len(completed) == 1, completed
    confirmed = flow.tap.events(
        event_key="appointment.confirmed", correlation_id=flow.correlation_id
    )
    assert len(confirmed) == 1, confirmed
