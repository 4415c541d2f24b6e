"""Happy path: book an appointment, pay by card, the booking is confirmed and emailed."""

from __future__ import annotations

from sandbox.scenario import Flow


def run(flow: Flow) -> None:
    appointment = flow.appointments.create(
        customerName="Ada Lovelace", customerEmail="ada@example.com", price=75.0
    )
    booking = appointment["appointmentId"]
    paid = flow.payments.pay_by_card(booking_id=booking, amount=75.0, card="4111111111111111")
    assert paid["status"] == "success", paid

    flow.expect("payment.created", within=5)
    flow.expect("payment.completed", within=5)
    flow.expect("appointment.confirmed", within=5)
    subjects = sorted(m["subject"] for m in flow.expect_email(count=2, within=10))
    assert any("Appointment confirmed" in s for s in subjects), subjects
    assert any("Payment received" in s for s in subjects), subjects
    assert flow.appointments.fetch(booking)["status"] == "confirmed"
