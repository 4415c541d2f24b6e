"""Provider timeout: 502 PAYMENT_GATEWAY_ERROR leaves the payment failed and retryable, with
its event; when the provider's charge turns out to have gone through, its webhook completes
the payment and the booking is confirmed. Nothing is half-written at any point."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book


def run(flow: Flow) -> None:
    booking = book(flow)
    # the provider holds the confirm longer than the payment service waits (3 s)
    flow.provider.add_fault(method="POST", path="/v1/payment_intents/*/confirm", hang_s=20, count=1)
    try:
        failure = flow.payments.pay_by_card(booking_id=booking, amount=PRICE, expect=502)
        assert failure["error"]["code"] == "PAYMENT_GATEWAY_ERROR", failure
        [event] = flow.expect("payment.failed", within=5)
        assert event.json()["error"]["code"] == "PAYMENT_GATEWAY_ERROR", event.json()
        transaction = event.json()["paymentId"]
        status = flow.payments.status(transaction)
        assert status["status"] == "failed", status
        appointment_becomes(flow, booking, paymentStatus="failed", status="pending_confirmation")
    finally:
        flow.provider.clear_faults()  # ends the hang: the provider finishes the charge
    flow.timeline.note("the provider's hang ends; it completes the charge and sends a webhook")

    flow.expect("payment.completed", within=10)
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid", within=10)
    assert flow.payments.status(transaction)["status"] == "completed"
