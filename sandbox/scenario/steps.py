"""Steps that many scenarios share, so each scenario reads as its flow and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.scenario.flow import Flow
from sandbox.waiting import wait_for

PRICE = 75.0


def book(flow: Flow, **fields: Any) -> str:
    """Book an appointment for this flow; return its id."""
    appointment = flow.appointments.create(price=fields.pop("price", PRICE), **fields)
    flow.expect("appointment.created", within=5)
    return str(appointment["appointmentId"])


def book_and_pay(flow: Flow, **fields: Any) -> tuple[str, str]:
    """Book and pay by card; wait for the confirmation. Return (appointment, transaction)."""
    booking = book(flow, **fields)
    paid = flow.payments.pay_by_card(booking_id=booking, amount=PRICE)
    assert paid["status"] == "success", paid
    flow.expect("appointment.confirmed", within=5)
    return booking, str(paid["transaction_id"])


def appointment_becomes(
    flow: Flow, booking: str, *, within: float = 5.0, **expected: Any
) -> dict[str, Any]:
    """Wait until the appointment's fields have the expected values."""

    def matches() -> dict[str, Any] | None:
        current = flow.appointments.get(f"/appointments/{booking}", expect=200, record=False)
        return current if all(current.get(k) == v for k, v in expected.items()) else None

    return wait_for(
        matches,
        timeout=within,
        what=f"appointment {booking} with {expected}",
        seen=lambda: flow.appointments.get(f"/appointments/{booking}", record=False),
    )


def declined(flow: Flow, card: str, code: str) -> None:
    """Pay with a card the provider declines; the booking records the failure."""
    booking = book(flow)
    failure = flow.payments.pay_by_card(booking_id=booking, amount=PRICE, card=card, expect=400)
    assert failure["error_code"] == code, failure
    assert failure["status"] == "failed", failure
    [event] = flow.expect("payment.failed", within=5)
    assert event.json()["error"]["code"] == code, event.json()
    appointment = appointment_becomes(flow, booking, paymentStatus="failed")
    assert appointment["status"] == "pending_confirmation", appointment
    assert appointment["paymentError"], appointment
    [mail] = flow.expect_email(subject="Payment failed", within=10)
    assert "ada@example.com" in mail["to"], mail


def open_intent(flow: Flow, booking: str) -> dict[str, Any]:
    """Open a payment intent for the booking; return the payment service's answer."""
    intent = flow.payments.post(
        "/payment/intents",
        json={"user_id": "user_123", "booking_id": booking, "amount": PRICE},
        expect=(200, 201),
    )
    return dict(intent)


def confirm_in_browser(flow: Flow, intent: dict[str, Any]) -> None:
    """Confirm the intent with the provider as the browser would (Stripe.js): with a
    publishable key and the client secret, never through the payment service."""
    import stripe

    browser = stripe.StripeClient(
        "pk_test_sandbox_browser", base_addresses={"api": flow.provider.base_url}
    )
    params: Any = {"payment_method": "pm_card_visa", "client_secret": intent["client_secret"]}
    browser.v1.payment_intents.confirm(intent["payment_intent_id"], params=params)
    flow.timeline.note("browser confirmed the intent with the provider")


def pay_by_intent(flow: Flow, booking: str) -> dict[str, Any]:
    """Open a payment intent and confirm it as the browser would."""
    intent = open_intent(flow, booking)
    confirm_in_browser(flow, intent)
    return intent


def book_and_pay_by_intent(flow: Flow, *, within: float = 10.0) -> tuple[str, dict[str, Any]]:
    """Book and pay by intent; wait until the webhook has completed the payment and the
    booking is confirmed. Return (appointment, intent)."""
    booking = book(flow)
    intent = pay_by_intent(flow, booking)
    flow.expect("payment.completed", within=within)
    flow.expect("appointment.confirmed", within=within)
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid", within=within)
    return booking, intent


@contextmanager
def webhook_faults(flow: Flow, **faults: Any) -> Iterator[None]:
    """Have the provider deliver webhooks with these faults until the block ends."""
    flow.provider.webhook_faults(**faults)
    try:
        yield
    finally:
        flow.provider.clear_webhook_faults()


def intent_deliveries(flow: Flow, intent_id: str) -> list[dict[str, Any]]:
    """Every webhook delivery the provider made for events about this payment intent."""
    auth = {"Authorization": "Bearer sk_test_scenario_observer"}
    events = flow.provider.call("GET", "/v1/events", params={"limit": 100}, headers=auth)
    ids = {e["id"] for e in events["data"] if e["data"]["object"].get("id") == intent_id}
    return [d for d in flow.provider.deliveries(limit=1000) if d["event_id"] in ids]
