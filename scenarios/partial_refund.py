"""Partial refund: payment.refunded (partial) keeps the appointment confirmed; a refund email."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import appointment_becomes, book_and_pay


def run(flow: Flow) -> None:
    booking, transaction = book_and_pay(flow)
    flow.payments.refund(transaction_id=transaction, booking_id=booking, amount=25.0)

    [event] = flow.expect("payment.refunded", within=5)
    assert event.json()["refundType"] == "partial", event.json()
    flow.expect_email(subject="Refund processed", within=10)
    appointment = appointment_becomes(flow, booking, status="confirmed")
    assert (
        flow.tap.events(event_key="appointment.cancelled", correlation_id=flow.correlation_id) == []
    ), appointment
