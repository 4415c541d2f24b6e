"""Seed 002's five emails, sent by the real notifier process over a real SMTP socket."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.waiting import wait_for
from tests.appointment.support import payment_event
from tests.notifier.support import (
    SCRIPT_NAME,
    Inbox,
    NotifierService,
    appointment_event,
    unique_email,
)

pytestmark = pytest.mark.integration

ESCAPED_NAME = "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; Jane"


def _event(routing_key: str, recipient: str, flow: str) -> OutgoingMessage:
    data: dict[str, Any] = {"customerEmail": recipient, "customerName": SCRIPT_NAME}
    if routing_key.startswith("appointment."):
        return appointment_event(routing_key, correlation_id=flow, service="Haircut", **data)
    return payment_event(
        routing_key, appointment_id="appt_789", tenant_id="tenant123", correlation_id=flow, **data
    )


@pytest.mark.parametrize(
    ("routing_key", "template", "subject"),
    [
        ("appointment.confirmed", "appointment_confirmed", "Appointment confirmed: Haircut on "),
        ("payment.completed", "payment_succeeded", "Payment received: 75.10 USD"),
        ("payment.failed", "payment_failed", "Payment failed for booking appt_789"),
        ("appointment.cancelled", "appointment_cancelled", "Appointment cancelled: Haircut on "),
        ("payment.refunded", "refund_processed", "Refund processed: 75.00 USD"),
    ],
)
def test_email_arrives_with_its_subject_recipient_and_the_customer_name_escaped(
    routing_key: str,
    template: str,
    subject: str,
    notifier: NotifierService,
    inbox: Inbox,
    publisher: Publisher,
) -> None:
    recipient = unique_email()
    flow = f"flow-{uuid.uuid4().hex}"
    event = _event(routing_key, recipient, flow)

    publisher.publish(event)

    [summary] = wait_for(
        lambda: inbox.messages(to=recipient),
        timeout=20,
        what=f"the {template} email to {recipient}",
        seen=lambda: notifier.audit(correlation_id=flow),
    )
    mail = inbox.message(summary["id"])
    assert mail["subject"].startswith(subject)
    assert mail["to"] == [recipient]
    assert mail["headers"]["X-Correlation-Id"] == [flow]
    assert mail["headers"]["X-Notification-Template"] == [template]
    assert ESCAPED_NAME in mail["html"]
    assert "<script>" not in mail["html"]
    assert SCRIPT_NAME in mail["text"]  # text/plain shows it as the text it is
    assert mail["headers"]["Message-ID"][0].startswith(f"<{template}.")
