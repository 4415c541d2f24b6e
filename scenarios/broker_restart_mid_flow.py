"""Broker node killed and restarted mid-flow: the payment taken while it was down is
published from the outbox afterwards and the flow completes; nothing is lost."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, appointment_becomes, book
from sandbox.waiting import wait_for


def run(flow: Flow) -> None:
    booking = book(flow)
    flow.processes.kill("broker")
    flow.timeline.note("broker node killed (SIGKILL)")
    try:
        paid = flow.payments.pay_by_card(booking_id=booking, amount=PRICE)
        assert paid["status"] == "success", paid
        flow.timeline.note("payment taken while the broker is down; its events wait in the outbox")
    finally:
        flow.processes.start("broker")
        flow.timeline.note("broker node started again")

    # The tap rebinds after the restart and may miss events published before it did, so the
    # outcome is read from the services and the inbox, which is where it matters.
    appointment_becomes(flow, booking, status="confirmed", paymentStatus="paid", within=60)
    flow.expect_email(subject="Appointment confirmed", within=30)
    flow.expect_email(subject="Payment received", within=30)
    wait_for(lambda: flow.tap.connected, timeout=30, what="the tap to rebind")
