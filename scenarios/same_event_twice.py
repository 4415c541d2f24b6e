"""The same event delivered twice changes the appointment once and sends one email."""

from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.scenario import Flow
from sandbox.scenario.steps import book_and_pay


def run(flow: Flow) -> None:
    booking, _ = book_and_pay(flow)
    [completed] = flow.expect("payment.completed", within=5)
    flow.expect_email(subject="Appointment confirmed", within=10)

    # the broker redelivers the very same message (same message_id)
    again = OutgoingMessage.event(
        "payment.completed",
        completed.json(),
        producer="payment-service",
        correlation_id=flow.correlation_id,
        message_id=completed.message_id,
    )
    with Publisher(flow.broker_url, flow.topology.exchange.name) as publisher:
        publisher.publish(again)
    flow.expect("payment.completed", count=2, within=5)

    # both consumers have had time to act on it: the notifier's next email would follow
    flow.expect("notification.sent", count=3, within=10)
    assert len(flow.expect_email(subject="Appointment confirmed", within=1)) == 1
    assert len(flow.expect_email(subject="Payment received", within=1)) == 1
    assert (
        len(flow.tap.events(event_key="appointment.confirmed", correlation_id=flow.correlation_id))
        == 1
    )
    assert flow.appointments.fetch(booking)["status"] == "confirmed"
