"""Appointment consumer SIGKILLed mid-processing: its unacked events are redelivered to the
restarted consumer; every booking is confirmed once and emailed once."""

import threading
from collections import Counter

import requests
from pika.adapters.blocking_connection import BlockingChannel

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.connection import connect
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
    # what the watch saw, for a timeout's message: the ready counts as they changed, and
    # the consumer's last counters
    ready_seen: list[int] = []
    counters: dict[str, object] = {}

    def in_flight(channel: BlockingChannel) -> str | None:
        # The broker's count needs nothing from the busy consumer: with a prefetch below
        # BOOKINGS, some but not all events taken from the queue means some are unhandled.
        ready = channel.queue_declare(queue, passive=True).method.message_count
        if not ready_seen or ready_seen[-1] != ready:
            ready_seen.append(ready)
        if 0 < ready < BOOKINGS:
            return f"{BOOKINGS - ready} of {BOOKINGS} taken from {queue}"
        try:
            stats = requests.get(health, timeout=0.5).json()["consumer"]
        except (requests.RequestException, ValueError, KeyError):
            return None  # not listening yet
        counters.update(stats)
        if stats["delivered"] > 0 and stats["acked"] < BOOKINGS:
            return f"{stats['delivered']} delivered, {stats['acked']} acked"
        return None

    # A passive declare on one kept connection takes a fraction of a millisecond; a new
    # connection per look takes several, a good part of the short time the consumer
    # spends mid-batch.
    connection = connect(flow.broker_url, name="scenario watch")
    try:
        channel = connection.channel()
        caught = wait_for(
            lambda: in_flight(channel),
            timeout=20,
            interval=0.002,
            what="the consumer mid-batch",
            seen=lambda: {"ready counts": ready_seen, "consumer": counters or None},
        )
    finally:
        connection.close()
    starting.join(30)
    flow.processes.kill(CONSUMER)
    flow.timeline.note(f"SIGKILL with {caught}")

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
