"""Provider errors, then the client retries with the same Idempotency-Key and succeeds: one
charge, the booking confirmed."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book


def run(flow: Flow) -> None:
    booking = book(flow)
    key = f"{flow.correlation_id}-pay"
    flow.provider.add_fault(
        method="POST",
        path="/v1/payment_intents/*/confirm",
        error={"status": 500, "type": "api_error", "message": "outage"},
        count=2,
    )
    try:
        for _ in range(2):
            failed = flow.payments.pay_by_card(
                booking_id=booking, amount=PRICE, expect=502, idempotency_key=key
            )
            assert failed["error"]["code"] == "PAYMENT_GATEWAY_ERROR", failed
        paid = flow.payments.pay_by_card(booking_id=booking, amount=PRICE, idempotency_key=key)
    finally:
        flow.provider.clear_faults()
    assert paid["status"] == "success", paid

    flow.expect("appointment.confirmed", within=5)
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid")
    completed = flow.tap.events(event_key="payment.completed", correlation_id=flow.correlation_id)
    assert len(completed) == 1, completed
    # one payment for the booking, however many attempts it took
    listed = flow.payments.get("/payments", params={"limit": 100}, expect=200)
    mine = [
        p for p in listed.get("payments", listed.get("items", [])) if p["booking_id"] == booking
    ]
    assert [p["status"] for p in mine] == ["completed"], mine
