"""Locust users that drive whole flows, and one that publishes straight to the exchange.

Every flow is its own correlation id.  A user registers the event that ends its flow
with the process's ``FlowTracker`` before the first request, makes the flow's HTTP
calls (each a normal Locust sample), then waits for the end and reports the time from
the first request to that event as a sample of request type ``flow``: it shows in the
stats, the charts and the CSV like any request, and a flow that does not finish within
``--flow-timeout`` is a failed sample.  Samples of request type ``amqp`` are the event
publisher's publishes, and ``lag`` its consumer lag.

- ``CardFlowUser``: book, pay by card (a ``--declined-ratio`` share with a card the
  provider declines); ends with the ``appointment_confirmed`` email's
  ``notification.sent`` (``payment_failed`` for a declined card).
- ``IntentFlowUser``: book, open a payment intent, confirm it at the provider as the
  browser would; the provider's webhook completes the payment; same end.
- ``EventPublisherUser``: books over HTTP, then publishes ``payment.completed`` straight
  to the exchange and times it until ``appointment.confirmed`` (consumer lag: wait queue,
  consumer, outbox relay).  Not part of the default mix; name it on the command line.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import gevent
from locust import FastHttpUser, User, task
from locust.exception import RescheduleTask

from loadtests import runtime
from loadtests.options import AMQP, FLOW, LAG
from sandbox.messaging.envelope import CORRELATION_HEADER, OutgoingMessage
from sandbox.messaging.tools import BlockingPublisher

PRICE = 75.0
GOOD_CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"
BOOKING = {
    "customerName": "Load Tester",
    "customerEmail": "load@example.com",
    "service": "Consultation",
    "startTime": "2030-01-15T10:00:00Z",
    "price": PRICE,
    "currency": "USD",
}


def pacing_period(user: User) -> float:
    """Seconds between one user's flows so that all users together start
    ``--flows-per-s`` flows (0: no pacing)."""
    options = user.environment.parsed_options
    rate = float(getattr(options, "flows_per_s", 0.0) or 0.0)
    if rate <= 0:
        return 0.0
    # flow_users is the whole run's user count, set by the master (workers see only theirs)
    users = max(1, int(getattr(options, "flow_users", 0) or getattr(options, "num_users", 1) or 1))
    return users / rate


_NEXT_START = "_sandbox_next_start"


def paced(user: User) -> float:
    """Seconds to wait so that all users together start ``--flows-per-s`` flows: each
    user starts one flow every pacing period, at its own phase (``stagger``)."""
    period = pacing_period(user)
    if not period:
        return 0.0
    now = time.monotonic()
    # a flow that took longer than a period starts the next one at once, and the
    # schedule moves on from there rather than catching up in a burst
    next_start = max(getattr(user, _NEXT_START, now) + period, now)
    setattr(user, _NEXT_START, next_start)
    return next_start - now


def stagger(user: User) -> None:
    """Start this user's first flow at a random point of its pacing period.

    Users spawned together and paced alike would otherwise start their flows at the same
    instants: 24 users at 8 flows/s are a burst of 24 flows every 3 s, and the latency
    measured is that of 24 concurrent flows, not of 8 flows/s.
    """
    period = pacing_period(user)
    if period:
        gevent.sleep(runtime.current().random.uniform(0.0, period))
        setattr(user, _NEXT_START, time.monotonic())


class Flow:
    """One flow's correlation id, its ledger line and its end-to-end sample."""

    def __init__(self, user: FastHttpUser, kind: str, expected: str, template: str) -> None:
        self.user = user
        self.kind = kind
        self.id = f"load-{uuid.uuid4().hex}"
        self.rt = runtime.current()
        self.headers = {CORRELATION_HEADER: self.id, "X-Tenant-Id": self.rt.tenant}
        self.waiter = self.rt.tracker.expect(
            self.id, "notification.sent", lambda _key, body: body.get("template") == template
        )
        self.ledger: dict[str, Any] = {
            "correlation_id": self.id,
            "tenant_id": self.rt.tenant,
            "kind": kind,
            "appointment_id": None,
            "payment_ref": None,
            "expected": expected,
            "started_at": time.time(),
            "edge_error": None,
        }
        self.started = time.time()

    def call(
        self, method: str, url: str, name: str, ok: tuple[int, ...], **kwargs: Any
    ) -> dict[str, Any]:
        """One HTTP step's JSON answer; when it did not answer as expected, the flow is
        given up and the task ends (``RescheduleTask`` is Locust's ``return`` from a task)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        with self.user.client.request(
            method, url, name=name, headers=headers, catch_response=True, **kwargs
        ) as response:
            if response.status_code in ok:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    response.success()
                    return body
            if response.status_code == 0:  # no HTTP answer: connection refused, reset, timeout
                error = f"{name}: no response ({response.error!r})"
            else:
                error = f"{name}: HTTP {response.status_code} {(response.text or '')[:200]}"
            response.failure(error)
        self.give_up(error)
        raise RescheduleTask(error)

    def book(self) -> dict[str, Any]:
        """The flow's first step: book the appointment it pays for."""
        booking = self.call(
            "POST",
            f"{self.rt.targets.appointment}/appointments",
            "POST /appointments",
            (201,),
            json=BOOKING,
        )
        self.ledger["appointment_id"] = booking["appointmentId"]
        return booking

    def give_up(self, error: str) -> None:
        self.ledger["edge_error"] = error
        self.rt.tracker.forget(self.id)
        self.rt.record(self.ledger)

    def wait_for_the_end(self) -> None:
        self.rt.record(self.ledger)
        deadline = self.started + self.rt.flow_timeout
        arrived = self.waiter.wait(deadline - time.time())
        name = f"{self.kind} → notification.sent"
        if arrived is None:
            self.rt.tracker.forget(self.id)
            self.rt.fire(
                FLOW,
                name,
                (time.time() - self.started) * 1000,
                TimeoutError(f"no notification.sent within {self.rt.flow_timeout:.0f} s"),
            )
        else:
            self.rt.fire(FLOW, name, (arrived - self.started) * 1000, None)


class SandboxUser(FastHttpUser):
    """What every user here shares: paced flows and the same patience with the sandbox."""

    abstract = True
    wait_time = paced
    connection_timeout = 10.0
    network_timeout = 15.0

    def on_start(self) -> None:
        stagger(self)


class CardFlowUser(SandboxUser):
    weight = 4

    @task
    def book_and_pay_by_card(self) -> None:
        rt = runtime.current()
        declined = rt.random.random() < rt.declined_ratio
        kind, expected, template = (
            ("declined", "payment_failed", "payment_failed")
            if declined
            else ("card", "confirmed", "appointment_confirmed")
        )
        flow = Flow(self, kind, expected, template)
        booking = flow.book()
        paid = flow.call(
            "POST",
            f"{rt.targets.payment}/payment/process",
            "POST /payment/process" + (" (declined)" if declined else ""),
            (400,) if declined else (200,),
            headers={"Idempotency-Key": flow.id},
            json={
                "user_id": "user_load",
                "booking_id": booking["appointmentId"],
                "amount": PRICE,
                "payment_method": "credit_card",
                "card_details": {
                    "card_number": DECLINED_CARD if declined else GOOD_CARD,
                    "expiry_month": "12",
                    "expiry_year": "2034",
                    "cvv": "123",
                    "cardholder_name": "Load Tester",
                },
            },
        )
        flow.ledger["payment_ref"] = paid.get("transaction_id")
        flow.wait_for_the_end()


class IntentFlowUser(SandboxUser):
    weight = 1

    @task
    def book_and_pay_by_intent(self) -> None:
        rt = runtime.current()
        flow = Flow(self, "intent", "confirmed", "appointment_confirmed")
        booking = flow.book()
        intent = flow.call(
            "POST",
            f"{rt.targets.payment}/payment/intents",
            "POST /payment/intents",
            (200, 201),
            json={"user_id": "user_load", "booking_id": booking["appointmentId"], "amount": PRICE},
        )
        flow.ledger["payment_ref"] = intent["payment_intent_id"]
        flow.call(
            "POST",
            f"{rt.targets.provider}/v1/payment_intents/{intent['payment_intent_id']}/confirm",
            "POST provider /v1/payment_intents/{id}/confirm",
            (200,),
            headers={"Authorization": "Bearer pk_test_sandbox_browser"},
            data={"payment_method": "pm_card_visa", "client_secret": intent["client_secret"]},
        )
        flow.wait_for_the_end()


class EventPublisherUser(SandboxUser):
    """Consumer lag: ``payment.completed`` published to the exchange → ``appointment.confirmed``."""

    weight = 1

    def on_start(self) -> None:
        self.publisher = BlockingPublisher(runtime.current().targets.amqp, name="load-publisher")
        super().on_start()

    def on_stop(self) -> None:
        self.publisher.close()

    @task
    def publish_payment_completed(self) -> None:
        rt = runtime.current()
        flow_id = f"load-amqp-{uuid.uuid4().hex}"
        headers = {CORRELATION_HEADER: flow_id, "X-Tenant-Id": rt.tenant}
        with self.client.post(
            f"{rt.targets.appointment}/appointments",
            json=BOOKING,
            headers=headers,
            name="POST /appointments (for amqp)",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}")
                return
            appointment_id = response.json()["appointmentId"]
        waiter = rt.tracker.expect(
            flow_id,
            "appointment.confirmed",
            lambda _key, body: body.get("appointmentId") == appointment_id,
        )
        message = OutgoingMessage.event(
            "payment.completed",
            {
                "type": "PAYMENT_COMPLETED",
                "tenantId": rt.tenant,
                "paymentId": f"pay_{uuid.uuid4().hex[:20]}",
                "appointmentId": appointment_id,
                "customerId": "cust_load",
                "amount": PRICE,
                "currency": "USD",
                "status": "succeeded",
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "customerEmail": BOOKING["customerEmail"],
                "customerName": BOOKING["customerName"],
            },
            producer="payment-service",
            correlation_id=flow_id,
        )
        started = time.time()
        try:
            self.publisher.publish(
                rt.exchange,
                message.routing_key,
                message.body,
                message.envelope.properties(),
            )
        except Exception as exc:
            rt.tracker.forget(flow_id)
            rt.fire(AMQP, "publish payment.completed", (time.time() - started) * 1000, exc)
            return
        published = time.time()
        rt.fire(AMQP, "publish payment.completed", (published - started) * 1000, None)
        arrived = waiter.wait(started + rt.flow_timeout - time.time())
        name = "payment.completed → appointment.confirmed"
        if arrived is None:
            rt.tracker.forget(flow_id)
            rt.fire(
                LAG,
                name,
                (time.time() - started) * 1000,
                TimeoutError(f"no appointment.confirmed within {rt.flow_timeout:.0f} s"),
            )
        else:
            rt.fire(LAG, name, (arrived - started) * 1000, None)
