"""Out-of-order webhooks: the provider holds each webhook until the next one has gone out, so
older events arrive after newer ones; the payment completes once and never moves back."""

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
    flow.provider.webhook_faults(reorder={"probability": 1, "hold_ms": 2000})
    try:
        intent = pay_by_intent(flow, booking)
        flow.expect("payment.completed", within=15)
        appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid", within=10)

        def all_delivered() -> list:
            rows = intent_deliveries(flow, intent["payment_intent_id"])
            done = len(rows) >= 2 and all(d["status"] == "delivered" for d in rows)
            return rows if done else []

        rows = wait_for(all_delivered, timeout=15, what="every webhook of the intent delivered")
    finally:
        flow.provider.clear_webhook_faults()
    assert any("reorder" in " ".join(d["faults"]) for d in rows), rows
    # the late payment_intent.created (or any older event) did not move the payment back
    status = flow.payments.status(intent["transaction_id"])
    assert status["status"] == "completed", status
    completed = flow.tap.events(event_key="payment.completed", correlation_id=flow.correlation_id)
    assert len(completed) == 1, completed
