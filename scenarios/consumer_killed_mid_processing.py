"""Appointment consumer SIGKILLed mid-processing: its unacked events are redelivered to the
restarted consumer; every booking is confirmed once and emailed once."""

import threading
from collections import Counter

import requests

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.tools import queue_depth
from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes
from sandbox.topology import APPOINTMENT_SERVICE
from sandbox.waiting import wait_for

BOOKINGS = 80  # enough work that the kill lands while the consumer is busy
CONSUMER = "appointment-consumer"


def run(flow: Flow) -> None:
    health = flow.processes.state()["components"][CONSUMER]["health_url"]
    flow.processes.stop(CONSUMER)
    flow.timeline.note("appointment consumer stopped; payment events queue up")
    bookings = [
        flow.appointments.create(customerEmail=f"guest{n}@example.com", price=PRICE)
        for n in range(BOOKINGS)
    ]
    # the payment service's events for these bookings, as its relay would publish them
    events = [
        OutgoingMessage.event(
            "payment.completed",
            example_body(
                "payment.completed",
                paymentId=f"pay_kill_{n}",
                appointmentId=b["appointmentId"],
                customerId=b["customerId"],
                tenantId=flow.tenant,
                amount=PRICE,
                currency="USD",
            ),
            producer="payment-service",
            correlation_id=flow.correlation_id,
        )
        for n, b in enumerate(bookings)
    ]
    with Publisher(flow.broker_url, flow.topology.exchange.name) as publisher:
        assert not any(publisher.publish_many(events))

    # start it in the background and watch its own counters while it works through them
    starting = threading.Thread(target=flow.processes.start, args=(CONSUMER,))
    starting.start()

    queue = next(q.name for q in flow.topology.queues if q.consumer == APPOINTMENT_SERVICE)

    def in_flight() -> str | None:
        # The broker's count needs nothing from the busy consumer: with a prefetch below
        # BOOKINGS, some but not all events taken from the queue means some are unhandled.
        ready = queue_depth(flow.broker_url, queue)
        if 0 < ready < BOOKINGS:
            return f"{BOOKINGS - ready} of {BOOKINGS} taken from {queue}"
        try:
            stats = requests.get(health, timeout=0.5).json()["consumer"]
        except (requests.RequestException, ValueError, KeyError):
            return None  # not listening yet
        if stats["delivered"] > 0 and stats["acked"] < BOOKINGS:
            return f"{stats['delivered']} delivered, {stats['acked']} acked"
        return None

    seen = wait_for(in_flight, timeout=20, interval=0.005, what="the consumer mid-batch")
    starting.join(30)
    flow.processes.kill(CONSUMER)
    flow.timeline.note(f"SIGKILL with {seen}")

    ids = [b["appointmentId"] for b in bookings]
    for booking in ids:
        appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid", within=60)
    confirmed = Counter(
        r.json()["appointmentId"]
        for r in flow.expect("appointment.confirmed", count=BOOKINGS, within=20)
    )
    assert set(confirmed) == set(ids) and set(confirmed.values()) == {1}, confirmed
    mails = flow.expect_email(subject="Appointment confirmed", count=BOOKINGS, within=60)
    per_guest = Counter(tuple(m["to"]) for m in mails)
    assert set(per_guest.values()) == {1} and len(per_guest) == BOOKINGS, per_guest
    restarts = flow.processes.state()["components"][CONSUMER]["restarts"]
    assert restarts >= 1, "the supervisor did not restart the killed consumer"
