"""The ``notification.*`` events, built from an attempt as their contracts require.

``notification.sent`` commits with the delivery it reports; ``notification.failed`` is
written for the last failed attempt of a channel.  Both carry the correlation id of the
event that was owed the notification, so a flow's notifications follow the flow.
"""

from __future__ import annotations

from typing import Any

from sandbox.messaging import OutgoingMessage
from sandbox.services.common.times import iso
from sandbox.services.notifier.storage import Attempt
from sandbox.topology import NOTIFIER_SERVICE

SENT = "sent"
FAILED = "failed"


def notification(attempt: Attempt, customer_id: str | None) -> OutgoingMessage:
    """``notification.sent`` or ``notification.failed`` for ``attempt``."""
    sent = attempt.status == SENT
    body: dict[str, Any] = {
        "type": "NOTIFICATION_SENT" if sent else "NOTIFICATION_FAILED",
        "tenantId": attempt.tenant_id or "unknown",
        "status": attempt.status,
        "timestamp": iso(attempt.created_at),
        "channel": attempt.channel,
        "template": attempt.template,
        "sourceEventId": attempt.event_id,
    }
    if attempt.recipient:
        body["recipient"] = attempt.recipient
    if not sent:
        body["error"] = {"code": attempt.error_code, "message": attempt.error_message or "failed"}
    for name, value in (
        ("paymentId", attempt.payment_id),
        ("appointmentId", attempt.appointment_id),
        ("customerId", customer_id),
    ):
        if value is not None:
            body[name] = value
    routing_key = "notification.sent" if sent else "notification.failed"
    assert attempt.correlation_id is not None  # every consumed event carries one
    return OutgoingMessage.event(
        routing_key, body, producer=NOTIFIER_SERVICE, correlation_id=attempt.correlation_id
    )
