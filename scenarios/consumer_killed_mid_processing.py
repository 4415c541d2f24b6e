"""Appointment consumer SIGKILLed mid-processing: its unacked events are redelivered to the
restarted consumer; every booking is confirmed once and emailed once."""

import threading
from collections import Counter

import requests

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book
from sandbox.waiting import wait_for

BOOKINGS = 15  # under the payment service's burst limit of 20 per 10 s
CONSUMER = "appointment-consumer"


def run(flow: Flow) -> None:
    health = flow.processes.state()["components"][CONSUMER]["health_url"]
    flow.processes.stop(CONSUMER)
    flow.timeline.note("appointment consumer stopped; payments queue up")
    bookings = [book(flow, customerEmail=f"guest{n}@example.com") for n in range(BOOKINGS)]
    for booking in bookings:
        flow.payments.pay_by_card(booking_id=booking, amount=PRICE)
    flow.expect("payment.completed", count=BOOKINGS, within=10)

    # start it in the background and watch its own counters while it works through them
    starting = threading.Thread(target=flow.processes.start, args=(CONSUMER,))
    starting.start()

    def in_flight() -> dict | None:
        try:
            stats = requests.get(health, timeout=0.5).json()["consumer"]
        except (requests.RequestException, ValueError, KeyError):
            return None  # not listening yet
        return stats if stats["delivered"] > 0 and stats["acked"] < BOOKINGS else None

    seen = wait_for(in_flight, timeout=10, interval=0.005, what="the consumer mid-batch")
    starting.join(30)
    flow.processes.kill(CONSUMER)
    flow.timeline.note(f"SIGKILL with {seen['delivered']} delivered, {seen['acked']} acked")

    for booking in bookings:
        appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid", within=30)
    confirmed = Counter(
        r.json()["appointmentId"]
        for r in flow.expect("appointment.confirmed", count=BOOKINGS, within=10)
    )
    assert set(confirmed) == set(bookings) and set(confirmed.values()) == {1}, confirmed
    mails = flow.expect_email(subject="Appointment confirmed", count=BOOKINGS, within=20)
    per_guest = Counter(tuple(m["to"]) for m in mails)
    assert set(per_guest.values()) == {1} and len(per_guest) == BOOKINGS, per_guest
    restarts = flow.processes.state()["components"][CONSUMER]["restarts"]
    assert restarts >= 1, "the supervisor did not restart the killed consumer"
