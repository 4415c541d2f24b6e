"""Full refund: payment.refunded (full) cancels the appointment; refund and cancellation emails."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book_and_pay


def run(flow: Flow) -> None:
    booking, transaction = book_and_pay(flow)
    refund = flow.payments.refund(transaction_id=transaction, booking_id=booking, amount=PRICE)
    assert refund["status"] == "success", refund

    [event] = flow.expect("payment.refunded", within=5)
    assert event.json()["refundType"] == "full", event.json()
    flow.expect("appointment.cancelled", within=5)
    appointment_becomes(flow, booking, status="cancelled", paymentStatus="refunded")
    flow.expect_email(subject="Refund processed", within=10)
    flow.expect_email(subject="Appointment cancelled", within=10)
