"""Seed 000's rules and the out-of-order rules as pure decisions (no database, no broker)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox.services.appointment import rules
from sandbox.services.appointment.rules import Appointment, PaymentEvent
from tests.appointment.support import NEW_APPOINTMENT

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def appointment(**changes: object) -> Appointment:
    base = Appointment(
        **asdict(NEW_APPOINTMENT),
        id="appt_1",
        tenant_id="tenant123",
        status=rules.PENDING_CONFIRMATION,
        payment_status=rules.PAYMENT_PENDING,
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def event(routing_key: str, **changes: object) -> PaymentEvent:
    base = PaymentEvent(routing_key, "pay_1", "appt_1", "tenant123")
    return replace(base, **changes)  # type: ignore[arg-type]


def full_refund() -> PaymentEvent:
    return event(
        "payment.refunded", refund_type="full", refunded_amount=Decimal("75"), reason="Sick"
    )


def partial_refund() -> PaymentEvent:
    return event("payment.refunded", refund_type="partial", refunded_amount=Decimal("25.50"))


def test_completion_pays_and_confirms_a_pending_appointment_and_publishes_confirmed() -> None:
    decision = rules.apply_payment_event(appointment(), event("payment.completed"), LATER)
    assert decision.appointment.status == rules.CONFIRMED
    assert decision.appointment.payment_status == rules.PAID
    assert decision.appointment.payment_id == "pay_1"
    assert decision.appointment.updated_at == LATER
    assert decision.publish == (rules.Publish(rules.CONFIRMED_KEY),)


def test_failure_stores_the_error_and_keeps_the_appointment_pending() -> None:
    failed = event("payment.failed", error_code="CARD_DECLINED", error_message="Declined")
    decision = rules.apply_payment_event(appointment(), failed, LATER)
    assert decision.appointment.payment_status == rules.FAILED
    assert decision.appointment.payment_error_code == "CARD_DECLINED"
    assert decision.appointment.payment_error_message == "Declined"
    assert decision.appointment.status == rules.PENDING_CONFIRMATION
    assert decision.publish == ()


def test_full_refund_cancels_a_confirmed_appointment_and_asks_for_appointment_cancelled() -> None:
    paid = appointment(status=rules.CONFIRMED, payment_status=rules.PAID, payment_id="pay_1")
    decision = rules.apply_payment_event(paid, full_refund(), LATER)
    assert decision.appointment.status == rules.CANCELLED
    assert decision.appointment.payment_status == rules.REFUNDED
    assert decision.appointment.refunded_amount == Decimal("75")
    assert decision.publish == (
        rules.Publish(rules.CANCELLED_KEY, "Payment refunded in full: Sick"),
    )


def test_partial_refund_keeps_the_appointment_confirmed() -> None:
    paid = appointment(status=rules.CONFIRMED, payment_status=rules.PAID)
    decision = rules.apply_payment_event(paid, partial_refund(), LATER)
    assert decision.appointment.status == rules.CONFIRMED
    assert decision.appointment.payment_status == rules.REFUNDED
    assert decision.appointment.refunded_amount == Decimal("25.50")
    assert decision.publish == ()


def test_partial_refunds_add_up_and_a_later_full_refund_still_cancels() -> None:
    paid = appointment(status=rules.CONFIRMED, payment_status=rules.PAID)
    once = rules.apply_payment_event(paid, partial_refund(), LATER).appointment
    twice = rules.apply_payment_event(once, partial_refund(), LATER).appointment
    assert twice.refunded_amount == Decimal("51.00")
    decision = rules.apply_payment_event(twice, full_refund(), LATER)
    assert decision.appointment.status == rules.CANCELLED
    assert [p.routing_key for p in decision.publish] == [rules.CANCELLED_KEY]


def test_cancelled_payment_is_recorded_without_touching_the_appointment_status() -> None:
    decision = rules.apply_payment_event(appointment(), event("payment.cancelled"), LATER)
    assert decision.appointment.payment_status == rules.PAYMENT_CANCELLED
    assert decision.appointment.status == rules.PENDING_CONFIRMATION


def test_refund_before_completion_cancels_and_the_late_completion_changes_nothing() -> None:
    refunded = rules.apply_payment_event(appointment(), full_refund(), LATER)
    assert refunded.appointment.status == rules.CANCELLED
    late = rules.apply_payment_event(refunded.appointment, event("payment.completed"), LATER)
    assert late.outcome == rules.IGNORED
    assert late.appointment == refunded.appointment
    assert late.publish == ()


def test_partial_refund_before_completion_confirms_because_the_refund_proves_the_payment() -> None:
    decision = rules.apply_payment_event(appointment(), partial_refund(), LATER)
    assert decision.appointment.status == rules.CONFIRMED
    assert decision.appointment.payment_status == rules.REFUNDED
    assert decision.publish == (rules.Publish(rules.CONFIRMED_KEY),)


@pytest.mark.parametrize("late", ["payment.failed", "payment.cancelled", "payment.completed"])
def test_a_late_event_never_moves_a_paid_appointment_backwards(late: str) -> None:
    paid = appointment(status=rules.CONFIRMED, payment_status=rules.PAID)
    decision = rules.apply_payment_event(paid, event(late), LATER)
    assert decision.outcome == rules.IGNORED
    assert decision.appointment == paid
    assert decision.publish == ()


def test_completion_after_the_appointment_was_cancelled_records_payment_but_does_not_confirm() -> (
    None
):
    cancelled = appointment(status=rules.CANCELLED, cancellation_reason="customer asked")
    decision = rules.apply_payment_event(cancelled, event("payment.completed"), LATER)
    assert decision.appointment.payment_status == rules.PAID
    assert decision.appointment.status == rules.CANCELLED
    assert decision.publish == ()


def test_full_refund_of_an_already_cancelled_appointment_does_not_cancel_it_twice() -> None:
    cancelled = appointment(status=rules.CANCELLED, payment_status=rules.PAID)
    decision = rules.apply_payment_event(cancelled, full_refund(), LATER)
    assert decision.appointment.payment_status == rules.REFUNDED
    assert decision.publish == ()


def test_completion_after_a_failed_attempt_pays_and_clears_the_error() -> None:
    failed = appointment(
        payment_status=rules.FAILED, payment_error_code="CARD_DECLINED", payment_error_message="x"
    )
    decision = rules.apply_payment_event(
        failed, event("payment.completed", payment_id="pay_2"), LATER
    )
    assert decision.appointment.payment_status == rules.PAID
    assert decision.appointment.payment_id == "pay_2"
    assert decision.appointment.payment_error_code is None


def test_payment_created_only_remembers_the_payment_id() -> None:
    decision = rules.apply_payment_event(appointment(), event("payment.created"), LATER)
    assert decision.appointment.payment_id == "pay_1"
    assert decision.appointment.payment_status == rules.PAYMENT_PENDING
    assert decision.publish == ()
