"""The notifier's handler over fakes: which notifications, at most once each, and failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox.contracts import ContractRegistry, example_body
from sandbox.messaging import IncomingMessage, OutgoingMessage, PermanentError
from sandbox.messaging.envelope import ATTEMPT_HEADER, encode_body
from sandbox.services.notifier.handlers import DeliveryError, Notifier, handle_event
from sandbox.services.notifier.mailer import Email, MailError
from sandbox.services.notifier.merchant import MerchantError
from sandbox.services.notifier.rendering import AppointmentFacts, EmailRenderer
from sandbox.services.notifier.storage import Attempt, Progress

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@dataclass
class FakeStore:
    facts: dict[tuple[str, str], AppointmentFacts] = field(default_factory=dict)
    done: set[tuple[str, str]] = field(default_factory=set)
    audit: list[Attempt] = field(default_factory=list)
    outbox: list[OutgoingMessage] = field(default_factory=list)

    def project_appointment(
        self, message_id: str, appointment_id: str, tenant_id: str, facts: AppointmentFacts
    ) -> bool:
        self.facts[(tenant_id, appointment_id)] = facts
        return True

    def progress(self, event_id: str, appointment: tuple[str, str] | None = None) -> Progress:
        delivered = frozenset(channel for done_id, channel in self.done if done_id == event_id)
        return Progress(delivered, self.facts.get(appointment) if appointment else None)

    def record_sent(self, attempt: Attempt, event: OutgoingMessage) -> None:
        self.done.add((attempt.event_id, attempt.channel))
        self.audit.append(attempt)
        self.outbox.append(event)

    def record_failed(self, attempt: Attempt, event: OutgoingMessage | None) -> None:
        self.audit.append(attempt)
        if event is not None:
            self.outbox.append(event)


@dataclass
class FakeMailer:
    failures: list[MailError] = field(default_factory=list)
    sent: list[Email] = field(default_factory=list)

    def send(self, message: Email) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


@dataclass
class FakeMerchant:
    failures: list[MerchantError] = field(default_factory=list)
    delivered: list[tuple[bytes, str]] = field(default_factory=list)

    @property
    def recipient(self) -> str:
        return "http://merchant.test/callbacks"

    def deliver(self, payload: bytes, *, idempotency_key: str, correlation_id: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append((payload, idempotency_key))


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    merchant: FakeMerchant | None = field(default_factory=FakeMerchant)

    def notifier(self) -> Notifier:
        return Notifier(
            store=self.store,
            mailer=self.mailer,
            renderer=RENDERER,
            merchant=self.merchant,
            sender="Appointments <notify@example.com>",
            sender_domain="example.com",
            support_email="help@example.com",
            max_attempts=4,
            now=lambda: NOW,
        )

    def handle(self, message: IncomingMessage) -> list[str]:
        return handle_event(self.notifier(), message)


RENDERER = EmailRenderer()


def event(
    routing_key: str, *, message_id: str = "evt-1", attempt: int = 1, **body: Any
) -> IncomingMessage:
    data = example_body(routing_key, **body)
    return IncomingMessage(
        routing_key=routing_key,
        raw_body=encode_body(data),
        properties={
            "message_id": message_id,
            "correlation_id": "flow-1",
            "headers": {ATTEMPT_HEADER: attempt},
        },
        queue="notifier_payment_events",
    )


def assert_valid(message: OutgoingMessage) -> None:
    registry = ContractRegistry.load()
    props = message.envelope.properties()
    assert registry.validate_message(message.routing_key, props, message.body) == []


def test_payment_completed_sends_an_email_and_a_merchant_callback_and_reports_both() -> None:
    world = World()
    sent = world.handle(event("payment.completed", customerEmail="jane@example.com"))
    assert sent == ["email", "webhook"]
    [mail] = world.mailer.sent
    assert mail.headers["To"] == "jane@example.com"
    assert mail.headers["X-Correlation-Id"] == "flow-1"
    assert [m.routing_key for m in world.store.outbox] == ["notification.sent"] * 2
    for message in world.store.outbox:
        assert_valid(message)


def test_a_redelivered_event_sends_nothing_twice() -> None:
    world = World()
    message = event("payment.completed", customerEmail="jane@example.com")
    world.handle(message)
    assert world.handle(message) == []
    assert len(world.mailer.sent) == 1
    assert world.merchant is not None and len(world.merchant.delivered) == 1


def test_a_failing_merchant_is_retried_without_sending_the_email_again() -> None:
    merchant = FakeMerchant(failures=[MerchantError("MERCHANT_ERROR", "503", permanent=False)])
    world = World(merchant=merchant)
    with pytest.raises(DeliveryError, match="webhook MERCHANT_ERROR"):
        world.handle(event("payment.completed", customerEmail="jane@example.com"))
    assert world.handle(event("payment.completed", customerEmail="x@y.io", attempt=2)) == [
        "webhook"
    ]
    assert len(world.mailer.sent) == 1
    assert [(a.channel, a.status, a.attempt) for a in world.store.audit] == [
        ("email", "sent", 1),
        ("webhook", "failed", 1),
        ("webhook", "sent", 2),
    ]


def test_recipient_comes_from_the_projected_appointment_when_the_event_has_none() -> None:
    world = World()
    world.handle(event("appointment.created", message_id="evt-0", customerEmail="ada@example.com"))
    world.handle(event("payment.failed", customerEmail=None, customerName=None))
    [mail] = world.mailer.sent
    assert mail.headers["To"] == "ada@example.com"


def test_another_tenants_event_never_finds_the_projected_customer() -> None:
    world = World(merchant=None)
    world.handle(event("appointment.created", message_id="evt-0", customerEmail="ada@example.com"))

    with pytest.raises(DeliveryError, match="RECIPIENT_UNKNOWN"):
        world.handle(event("payment.completed", tenantId="tenant-b", customerEmail=None))

    assert world.mailer.sent == []
    [attempt] = world.store.audit
    assert (attempt.tenant_id, attempt.recipient) == ("tenant-b", None)


def test_unknown_recipient_is_retried_and_reported_failed_only_after_the_last_attempt() -> None:
    world = World(merchant=None)
    for attempt in (1, 2, 3):
        with pytest.raises(DeliveryError, match="RECIPIENT_UNKNOWN"):
            world.handle(event("payment.failed", customerEmail=None, attempt=attempt))
    assert world.store.outbox == []
    with pytest.raises(DeliveryError):
        world.handle(event("payment.failed", customerEmail=None, attempt=4))
    [failed] = world.store.outbox
    assert failed.routing_key == "notification.failed"
    assert_valid(failed)


def test_smtp_5xx_is_permanent_and_reported_at_once() -> None:
    mailer = FakeMailer(failures=[MailError("SMTP_REFUSED", "550 no such user", permanent=True)])
    world = World(mailer=mailer, merchant=None)
    with pytest.raises(PermanentError, match="550"):
        world.handle(event("appointment.confirmed"))
    assert [m.routing_key for m in world.store.outbox] == ["notification.failed"]


def test_an_address_that_could_add_recipients_is_refused_permanently() -> None:
    world = World(merchant=None)
    with pytest.raises(PermanentError, match="INVALID_RECIPIENT"):
        world.handle(event("appointment.confirmed", customerEmail="a@x.io,b@evil.io"))
    assert world.mailer.sent == []


def test_message_id_is_the_same_for_every_send_of_the_same_event() -> None:
    first, second = World(merchant=None), World(merchant=None)
    first.handle(event("appointment.cancelled", message_id="evt-9"))
    second.handle(event("appointment.cancelled", message_id="evt-9"))
    assert first.mailer.sent[0].headers["Message-ID"] == second.mailer.sent[0].headers["Message-ID"]
    other = World(merchant=None)
    other.handle(event("appointment.cancelled", message_id="evt-10"))
    assert other.mailer.sent[0].headers["Message-ID"] != first.mailer.sent[0].headers["Message-ID"]


def test_appointment_created_only_updates_the_projection() -> None:
    world = World()
    assert world.handle(event("appointment.created", appointmentId="appt_1")) == []
    assert world.store.facts[("tenant123", "appt_1")].customer_email == "jane.doe@example.com"
    assert world.mailer.sent == []


def test_without_a_merchant_url_payment_events_owe_only_their_email() -> None:
    world = World(merchant=None)
    assert world.handle(event("payment.created")) == []
    refund = event("payment.refunded", message_id="evt-2", customerEmail="jane@example.com")
    assert world.handle(refund) == ["email"]
