"""Async intent: the client confirms with the provider, the signed webhook completes the
payment and the booking is confirmed."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import appointment_becomes, book, confirm_in_browser, open_intent


def run(flow: Flow) -> None:
    booking = book(flow)
    intent = open_intent(flow, booking)
    flow.expect("payment.created", within=5)
    confirm_in_browser(flow, intent)

    flow.expect("payment.completed", within=10)
    flow.expect("appointment.confirmed", within=5)
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid")
    assert flow.payments.status(intent["transaction_id"])["status"] == "completed"
