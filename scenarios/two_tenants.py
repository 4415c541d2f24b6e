"""Two tenants in parallel flows never see, or pay for, each other's payments or appointments."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import book_and_pay


def run(flow: Flow) -> None:
    other = Flow(flow.processes.state(), flow.processes, f"{flow.name}-b", tenant="tenant-b")
    with other:
        mine, my_payment = book_and_pay(flow)
        theirs, their_payment = book_and_pay(other)

        # neither tenant can read, list, pay for, refund or cancel the other's
        refused = other.payments.pay_by_card(booking_id=mine, amount=75.0, expect=404)
        assert refused["error"]["code"] == "BOOKING_NOT_FOUND", refused
        flow.appointments.get(f"/appointments/{theirs}", expect=404)
        other.appointments.get(f"/appointments/{mine}", expect=404)
        flow.payments.get(f"/payment/status/{their_payment}", expect=404)
        other.payments.refund(
            transaction_id=my_payment, booking_id=mine, amount=1.0, expect=(400, 404)
        )
        other.payments.post(f"/payment/{my_payment}/cancel", json={}, expect=(400, 404))
        listed = flow.payments.get("/payments", expect=200)
        ids = {p["transaction_id"] for p in listed.get("payments", listed.get("items", []))}
        assert my_payment in ids and their_payment not in ids, listed
        booked = flow.appointments.get("/appointments", expect=200)
        ids = {a["appointmentId"] for a in booked.get("appointments", booked.get("items", []))}
        assert mine in ids and theirs not in ids, booked
    flow.timeline.add_all(other.timeline.entries())
