"""3D Secure: the card issuer asks the customer to authenticate, so the payment waits
(202 requires_action, still pending); the customer completes the authentication at the
provider and its signed webhook completes the payment and confirms the booking."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book


def run(flow: Flow) -> None:
    booking = book(flow)
    waiting = flow.payments.pay_by_card(
        booking_id=booking, amount=PRICE, card="4000002760003184", expect=202
    )
    assert (waiting["status"], waiting["payment_status"]) == ("requires_action", "pending")
    flow.expect("payment.created", within=5)
    assert flow.payments.status(waiting["transaction_id"])["status"] == "pending"

    flow.provider.authenticate(waiting["payment_intent_id"])
    flow.timeline.note("the customer completed 3D Secure at the provider")

    flow.expect("payment.completed", within=10)
    flow.expect("appointment.confirmed", within=5)
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid")
