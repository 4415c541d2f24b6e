"""Poison message: an event no handler can process is retried after 1 s, 2 s and 4 s, then
parked in the DLQ with the reason."""

import itertools

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.scenario import Flow

TOLERANCE = 0.25


def run(flow: Flow) -> None:
    # A valid payment.completed for an appointment that does not exist: the appointment
    # service retries (it might be a race) and gives up after the last level.
    body = example_body("payment.completed", appointmentId="appt_that_never_existed")
    event = OutgoingMessage.event(
        "payment.completed", body, producer="payment-service", correlation_id=flow.correlation_id
    )
    with Publisher(flow.broker_url, flow.topology.exchange.name) as publisher:
        publisher.publish(event)

    dead = flow.expect_dead_letter("payment_events", within=15)
    assert dead.headers["x-exception-class"] == "UnknownAppointmentError", dead.headers
    assert dead.headers["x-attempt"] == 4, dead.headers
    [published] = flow.tap.events(message_id=event.message_id)
    hops = [
        r
        for r in flow.tap.records(lambda r: r.kind == "retry" and r.message_id == event.message_id)
        if r.routing_key.startswith("payment_events.")
    ]
    assert [h.routing_key for h in hops] == [f"payment_events.retry.{n}" for n in (1, 2, 3)]
    # a hop leaves when a delivery fails, and the next delivery comes one delay later
    times = [*(h.at for h in hops), dead.at]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, delay in zip(gaps, (1.0, 2.0, 4.0), strict=True):
        assert abs(gap - delay) <= TOLERANCE * delay, f"gaps {gaps} not within 25% of 1, 2, 4 s"
    assert hops[0].at - published.at < 1.0, "the first delivery failed late"
