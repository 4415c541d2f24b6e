"""SMTP down: emails are retried after 1 s, 2 s, 4 s, then dead-lettered; with SMTP back,
`sandbox dlq replay` sends exactly one email per event."""

from sandbox.messaging.tools import replay_dlq
from sandbox.scenario import Flow
from sandbox.scenario.steps import book_and_pay


def run(flow: Flow) -> None:
    flow.smtp.refuse(code=451, message="try again later")
    try:
        book_and_pay(flow)
        flow.expect_dead_letter("appointment_notifications", within=20)
        flow.expect_dead_letter("notifier_payment_events", within=20)
        assert flow.emails() == []
    finally:
        flow.smtp.accept()

    for dlq in ("appointment_notifications.dlq", "notifier_payment_events.dlq"):
        replay_dlq(flow.broker_url, flow.topology, dlq)
    flow.timeline.note("SMTP back; dead letters replayed")
    flow.expect_email(subject="Appointment confirmed", within=10)
    flow.expect_email(subject="Payment received", within=10)
    # retried deliveries skipped the merchant callback already made; one email each
    flow.expect("notification.sent", count=3, within=10)
    subjects = sorted(m["subject"].split(":")[0] for m in flow.emails())
    assert subjects == ["Appointment confirmed", "Payment received"], subjects
