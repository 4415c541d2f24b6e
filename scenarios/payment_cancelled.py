"""Payment cancelled: an open payment intent is cancelled; the booking records it."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import appointment_becomes, book, open_intent


def run(flow: Flow) -> None:
    booking = book(flow)
    intent = open_intent(flow, booking)
    assert intent.get("client_secret"), intent
    flow.expect("payment.created", within=5)
    flow.payments.post(
        f"/payment/{intent['transaction_id']}/cancel",
        json={"reason": "customer changed their mind"},
        expect=200,
    )

    [event] = flow.expect("payment.cancelled", within=5)
    # the caller's reason, even when the provider's canceled webhook is recorded first
    assert event.json()["reason"] == "customer changed their mind", event.json()
    appointment_becomes(flow, booking, paymentStatus="cancelled")
