"""Async intent: the client confirms with the provider, the signed webhook completes the
payment and the booking is confirmed."""

import stripe

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book


def run(flow: Flow) -> None:
    booking = book(flow)
    intent = flow.payments.post(
        "/payment/intents",
        json={"user_id": "user_123", "booking_id": booking, "amount": PRICE},
        expect=(200, 201),
    )
    flow.expect("payment.created", within=5)

    # the browser's part (Stripe.js): confirm with a publishable key and the client secret
    browser = stripe.StripeClient(
        "pk_test_sandbox_browser", base_addresses={"api": flow.provider.base_url}
    )
    browser.v1.payment_intents.confirm(
        intent["payment_intent_id"],
        params={"payment_method": "pm_card_visa", "client_secret": intent["client_secret"]},
    )
    flow.timeline.note("browser confirmed the intent with the provider")

    flow.expect("payment.completed", within=10)
    flow.expect("appointment.confirmed", within=5)
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid")
    assert flow.payments.status(intent["transaction_id"])["status"] == "completed"
