"""What the notifier does with one consumed event, as a plain function over its ports.

For every event it works out the notifications it owes from the table it shares with
the reconciliation (``contracts/notifications.yaml``, ``sandbox.contracts.owed``): the
seed 002 email for five routing keys and, for every ``payment.*`` event, a signed
merchant callback.  Each (event id, channel) is sent at most once: a channel recorded as
delivered is skipped on redelivery, so a merchant outage that makes the consumer retry
the event never sends its email twice.  Each attempt goes to the audit log; a delivery
commits with its ``notification.sent`` event; the last failed attempt publishes
``notification.failed``.

Failure rules (docs/notifier-service.md): a channel that fails raises after the other
channels had their turn; ``DeliveryError`` sends the event round the retry ladder and
then to the DLQ, ``PermanentError`` (only permanent failures: SMTP 5xx, merchant 4xx,
an invalid address, a broken template) sends it to the DLQ at once.  An email whose
recipient is unknown (no ``customerEmail`` in the event and no ``appointment.*`` event
of the same tenant seen for it yet) is retried, in case that event is still on its way,
then dead-lettered.  Recipients are looked up by tenant and appointment id, never by
the appointment id alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from jinja2 import TemplateError

from sandbox.contracts.owed import EMAIL, WEBHOOK, channels_for
from sandbox.messaging import IncomingMessage, OutgoingMessage, PermanentError
from sandbox.messaging.envelope import CORRELATION_HEADER
from sandbox.services.notifier import events
from sandbox.services.notifier.mailer import (
    Mailer,
    MailError,
    compose,
    message_id_for,
    valid_address,
)
from sandbox.services.notifier.merchant import MerchantCallbacks, MerchantError, callback_payload
from sandbox.services.notifier.rendering import (
    AppointmentFacts,
    EmailRenderer,
    clean,
    email_context,
)
from sandbox.services.notifier.storage import Attempt, Progress

log = logging.getLogger(__name__)

SENT = events.SENT
FAILED = events.FAILED
RECIPIENT_UNKNOWN = "RECIPIENT_UNKNOWN"


class Store(Protocol):
    def project_appointment(
        self, message_id: str, appointment_id: str, tenant_id: str, facts: AppointmentFacts
    ) -> bool: ...
    def progress(self, event_id: str, appointment: tuple[str, str] | None = None) -> Progress: ...
    def record_sent(self, attempt: Attempt, event: OutgoingMessage) -> None: ...
    def record_failed(self, attempt: Attempt, event: OutgoingMessage | None) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Notifier:
    """The handler's dependencies, wired once per process (or with fakes in tests)."""

    store: Store
    mailer: Mailer
    renderer: EmailRenderer
    merchant: MerchantCallbacks | None
    sender: str
    sender_domain: str
    support_email: str
    max_attempts: int
    now: Callable[[], datetime] = utc_now


class DeliveryError(Exception):
    """At least one notification failed and may succeed later: retry the event."""


@dataclass
class Failure:
    channel: str
    template: str
    recipient: str | None
    code: str
    message: str
    permanent: bool


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _correlation_id(message: IncomingMessage) -> str:
    # the envelope contract requires one; the notifier never mints one of its own
    if not message.correlation_id:
        raise PermanentError("event without correlation_id cannot be followed")
    return message.correlation_id


@dataclass(frozen=True)
class SourceEvent:
    """A consumed event as the notifier reads it."""

    id: str
    routing_key: str
    correlation_id: str
    attempt: int
    body: dict[str, Any]

    @classmethod
    def from_message(cls, message: IncomingMessage) -> SourceEvent:
        if not message.message_id:
            raise PermanentError("event without message_id cannot be de-duplicated")
        return cls(
            id=message.message_id,
            routing_key=message.routing_key,
            correlation_id=_correlation_id(message),
            attempt=message.attempt,
            body=message.body,
        )

    def field(self, name: str) -> str | None:
        value = self.body.get(name)
        return value if isinstance(value, str) and value else None

    def attempt_record(
        self, channel: str, template: str, recipient: str | None, status: str, at: datetime
    ) -> Attempt:
        """The audit log's row of one attempt, at ``at``, to send ``channel`` for this event."""
        return Attempt(
            event_id=self.id,
            routing_key=self.routing_key,
            correlation_id=self.correlation_id,
            attempt=self.attempt,
            tenant_id=self.field("tenantId"),
            appointment_id=self.field("appointmentId"),
            payment_id=self.field("paymentId"),
            channel=channel,
            template=template,
            recipient=recipient,
            status=status,
            created_at=at,
        )


def handle_event(notifier: Notifier, message: IncomingMessage) -> list[str]:
    """Send what ``message`` is owed and not yet sent; return the channels sent now."""
    event = SourceEvent.from_message(message)
    appointment_id = event.field("appointmentId")
    if event.routing_key.startswith("appointment.") and appointment_id:
        notifier.store.project_appointment(
            event.id, appointment_id, event.field("tenantId") or "", _facts(event)
        )
    owed = channels_for(event.routing_key, notifier.merchant is not None)
    if not owed:
        return []
    # only the event's own tenant's appointment: an id alone may name another tenant's
    tenant_id = event.field("tenantId")
    emails = any(channel == EMAIL for channel, _ in owed)
    appointment = (tenant_id, appointment_id) if emails and tenant_id and appointment_id else None
    progress = notifier.store.progress(event.id, appointment)
    sent: list[str] = []
    failures: list[Failure] = []
    for channel, template in owed:
        if channel in progress.delivered:
            log.info("%s for %s already delivered; skipped", channel, event.id)
            continue
        try:
            if channel == EMAIL:
                recipient, email_message_id = _send_email(notifier, event, template, progress.facts)
            else:
                recipient, email_message_id = _call_merchant(notifier, event, template)
        except _Failed as failed:
            failures.append(failed.failure)
            continue
        attempt = event.attempt_record(channel, template, recipient, SENT, notifier.now())
        attempt = replace(attempt, email_message_id=email_message_id)
        notifier.store.record_sent(attempt, events.notification(attempt, event.field("customerId")))
        log.info("%s %s sent for %s %s", channel, template, event.routing_key, event.id)
        sent.append(channel)
    if failures:
        _record_failures(notifier, event, failures)
    return sent


def _record_failures(notifier: Notifier, event: SourceEvent, failures: list[Failure]) -> None:
    permanent = all(f.permanent for f in failures)
    final = permanent or event.attempt >= notifier.max_attempts
    for f in failures:
        attempt = event.attempt_record(f.channel, f.template, f.recipient, FAILED, notifier.now())
        attempt = replace(attempt, error_code=f.code, error_message=f.message[:1000])
        outgoing = events.notification(attempt, event.field("customerId")) if final else None
        notifier.store.record_failed(attempt, outgoing)
        log.warning(
            "%s %s failed for %s %s (attempt %d%s): %s %s",
            f.channel,
            f.template,
            event.routing_key,
            event.id,
            event.attempt,
            ", final" if final else "",
            f.code,
            f.message,
        )
    summary = "; ".join(f"{f.channel} {f.code}: {f.message}" for f in failures)
    if permanent:
        raise PermanentError(summary)
    raise DeliveryError(summary)


def _facts(event: SourceEvent) -> AppointmentFacts:
    return AppointmentFacts(
        customer_email=event.field("customerEmail"),
        customer_name=event.field("customerName"),
        service=event.field("service"),
        start_time=event.field("startTime"),
    )


def _send_email(
    notifier: Notifier, event: SourceEvent, template: str, facts: AppointmentFacts | None
) -> tuple[str, str | None]:
    """Send the email ``template`` for ``event``; ``facts`` are its tenant's appointment's,
    as the projection holds them (None if unknown)."""
    appointment_id = event.field("appointmentId")
    recipient = event.field("customerEmail") or (facts.customer_email if facts else None)

    def fail(code: str, message: str, permanent: bool) -> _Failed:
        return _Failed(Failure(EMAIL, template, recipient, code, message, permanent))

    if not recipient:
        raise fail(
            RECIPIENT_UNKNOWN,
            "no customerEmail in the event and no appointment.* event of its tenant seen "
            f"for {appointment_id}",
            permanent=False,
        )
    if not valid_address(recipient):
        raise fail("INVALID_RECIPIENT", "customerEmail is not a deliverable address", True)
    context = email_context(
        event.routing_key, event.body, facts, support_email=notifier.support_email
    )
    try:
        rendered = notifier.renderer.render(template, context)
    except (TemplateError, LookupError) as exc:
        raise fail("TEMPLATE_ERROR", f"{type(exc).__name__}: {exc}", permanent=True) from exc
    message_id = message_id_for(event.id, template, notifier.sender_domain)
    headers = {
        CORRELATION_HEADER: clean(event.correlation_id),
        "X-Event-Id": clean(event.id),
        "X-Notification-Template": template,
    }
    email = compose(
        rendered,
        sender=notifier.sender,
        recipient=recipient,
        message_id=message_id,
        headers=headers,
    )
    try:
        notifier.mailer.send(email)
    except MailError as exc:
        raise fail(exc.code, str(exc), exc.permanent) from exc
    return recipient, message_id


def _call_merchant(notifier: Notifier, event: SourceEvent, template: str) -> tuple[str, str | None]:
    merchant = notifier.merchant
    assert merchant is not None  # channels_for only owes webhooks when one is configured
    payload = callback_payload(
        event.routing_key, event.body, event_id=event.id, correlation_id=event.correlation_id
    )
    try:
        merchant.deliver(payload, idempotency_key=event.id, correlation_id=event.correlation_id)
    except MerchantError as exc:
        failure = Failure(WEBHOOK, template, merchant.recipient, exc.code, str(exc), exc.permanent)
        raise _Failed(failure) from exc
    return merchant.recipient, None
