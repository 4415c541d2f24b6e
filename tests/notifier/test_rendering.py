"""The five email templates, rendered from contract example events (no SMTP)."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from sandbox.contracts import example_body
from sandbox.contracts.owed import owed
from sandbox.services.notifier.rendering import (
    AppointmentFacts,
    EmailRenderer,
    email_context,
    format_money,
    format_time,
)

NAME = "<img src=x onerror=alert(1)> O'Brien & Sons"
FACTS = AppointmentFacts(service="Massage <60 min>", start_time="2030-06-01T10:00:00+02:00")


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer()


@pytest.mark.parametrize(("routing_key", "template"), sorted(owed().emails.items()))
def test_every_email_escapes_event_data_in_html_and_keeps_it_readable_in_text(
    renderer: EmailRenderer, routing_key: str, template: str
) -> None:
    body = example_body(routing_key, customerName=NAME)
    email = renderer.render(
        template, email_context(routing_key, body, FACTS, support_email="help@example.com")
    )
    assert "<img" not in email.html
    assert "&lt;img src=x onerror=alert(1)&gt; O&#39;Brien &amp; Sons" in email.html
    assert NAME in email.text
    assert email.subject and "\n" not in email.subject
    assert "help@example.com" in email.text


def test_line_breaks_in_event_data_never_reach_the_subject(renderer: EmailRenderer) -> None:
    body = example_body("appointment.confirmed", service="Haircut\r\nBcc: victim@example.com")
    email = renderer.render(
        "appointment_confirmed",
        email_context("appointment.confirmed", body, None, support_email="s@example.com"),
    )
    assert "\r" not in email.subject and "\n" not in email.subject
    assert email.subject.startswith("Appointment confirmed: Haircut Bcc: victim@example.com on")


def test_payment_failed_explains_the_error(renderer: EmailRenderer) -> None:
    body = example_body(
        "payment.failed", error={"code": "CARD_EXPIRED", "message": "Your card has expired"}
    )
    email = renderer.render(
        "payment_failed", email_context("payment.failed", body, FACTS, support_email="s@x.io")
    )
    assert "Your card has expired" in email.html
    assert "CARD_EXPIRED" in email.text


def test_refund_email_shows_the_refunded_amount_and_reason(renderer: EmailRenderer) -> None:
    body = example_body(
        "payment.refunded",
        status="partially_refunded",
        refundType="partial",
        refundedAmount=25.5,
        reason="Service shortened",
    )
    email = renderer.render(
        "refund_processed", email_context("payment.refunded", body, None, support_email="s@x.io")
    )
    assert email.subject == "Refund processed: 25.50 USD"
    assert "partial refund" in email.text
    assert "Service shortened" in email.html


def test_payment_email_falls_back_to_the_projected_appointment_facts(
    renderer: EmailRenderer,
) -> None:
    body = example_body("payment.completed", customerName=None)
    facts = AppointmentFacts(customer_name="Ada", service="Dental check-up")
    email = renderer.render(
        "payment_succeeded", email_context("payment.completed", body, facts, support_email="s@x.io")
    )
    assert "Hello Ada," in email.text
    assert "Dental check-up" in email.text


def test_a_template_asking_for_missing_data_fails_instead_of_sending_blanks(
    renderer: EmailRenderer,
) -> None:
    with pytest.raises(UndefinedError):
        renderer.render("appointment_confirmed", {"user_name": "x"})


def test_times_and_money_are_formatted_for_people() -> None:
    assert format_time("2030-06-01T10:00:00+02:00") == "Saturday 01 June 2030, 10:00 (UTC+02:00)"
    assert format_time("2030-06-01T08:00:00Z") == "Saturday 01 June 2030, 08:00 (UTC)"
    assert format_money(1234.5, "EUR") == "1,234.50 EUR"
    assert format_money(None, "EUR") is None
