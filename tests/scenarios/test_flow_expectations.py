"""A flow's expectations against the session's sandbox: a miss names what did arrive."""

from __future__ import annotations

import time

import pytest

from sandbox.scenario import Flow
from sandbox.scenario.steps import PRICE, book, book_and_pay
from sandbox.waiting import Unexpected, WaitTimeout

pytestmark = pytest.mark.integration


def test_a_missed_event_lists_the_events_this_flow_did_get(sandbox_flow: Flow) -> None:
    book(sandbox_flow)
    with pytest.raises(WaitTimeout) as caught:
        sandbox_flow.expect("payment.completed", within=0.3)
    assert "event appointment.created [APPOINTMENT_CREATED]" in str(caught.value)


def test_a_missed_email_lists_the_emails_this_flow_did_get(sandbox_flow: Flow) -> None:
    book_and_pay(sandbox_flow)
    sandbox_flow.expect_email(subject="Payment received", within=10)
    with pytest.raises(WaitTimeout) as caught:
        sandbox_flow.expect_email(subject="Refund processed", within=0.3)
    message = str(caught.value)
    assert "'Payment received: 75.00 USD' to ada@example.com" in message, message
    assert "last seen: []" not in message


def test_expect_no_event_waits_out_its_window_when_nothing_comes(sandbox_flow: Flow) -> None:
    book(sandbox_flow)
    began = time.monotonic()
    sandbox_flow.expect_no_event("payment.completed", within=0.5)
    assert time.monotonic() - began >= 0.5


def test_expect_no_event_fails_at_once_naming_the_event_that_came(sandbox_flow: Flow) -> None:
    appointment = sandbox_flow.appointments.create(price=PRICE)
    began = time.monotonic()
    with pytest.raises(Unexpected) as caught:
        sandbox_flow.expect_no_event("appointment.created", within=10)
    assert time.monotonic() - began < 5, "it waited out the window after the event came"
    assert "appointment.created [APPOINTMENT_CREATED]" in str(caught.value)
    assert appointment["appointmentId"]


def test_expect_no_event_looks_at_this_flow_only(sandbox_flow: Flow, sandbox_stack) -> None:
    with Flow(sandbox_stack.state(), sandbox_stack, "another-flow") as other:
        book(other)
    sandbox_flow.expect_no_event("appointment.created", within=0.2)
